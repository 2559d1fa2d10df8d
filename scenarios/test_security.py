"""The lab is locked down: its own keys and passwords, kept private; NFS and root SSH only where needed."""

from __future__ import annotations

import ipaddress
import stat
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

from harness.cluster import placement
from harness.config.facts import FENCE, PATHS
from harness.config.lab import REPO, node_names
from harness.host import fencing
from harness.host import network as host_network
from harness.host.box import BOX_DIR
from harness.lab.handle import Lab

pytestmark = [pytest.mark.smoke]

INSECURE_KEY = (BOX_DIR / "vagrant.pub").read_text().split()[1]
ALL_NODES = node_names()


def test_secrets_are_per_lab_and_private(lab: Lab) -> None:
    folder = lab.secrets
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700, f"{folder} is not 0700"
    private = [p for p in folder.iterdir() if p.suffix != ".pub"]
    names = {p.name for p in private}
    fence_keys = {fencing.key_name(role) for role in fencing.ROLES}
    assert {"hacluster", "migration_key", *fence_keys} <= names, names
    for path in private:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, f"{path} is {oct(path.stat().st_mode)}, not 0600"
    assert len((folder / "hacluster").read_text().strip()) >= 20, "the hacluster password is short"
    keys = [(folder / name).read_bytes() for name in fence_keys]
    assert all(len(k) >= 128 for k in keys) and len(set(keys)) == len(keys), "the clusters share a fence key"


def test_the_hacluster_password_is_never_printed(lab: Lab) -> None:
    password = (lab.secrets / "hacluster").read_text().strip()
    places = [lab.logs, lab.console_dir, REPO / "artifacts", lab.state_dir / "cluster"]
    leaks = [
        str(path)
        for place in places
        if place.exists()
        for path in place.rglob("*")
        if path.is_file() and password.encode() in path.read_bytes()
    ]
    assert not leaks, f"the hacluster password is written in {leaks}"


@pytest.mark.parametrize("node", ALL_NODES)
def test_vagrant_logs_in_with_the_labs_own_key_not_the_insecure_one(lab: Lab, node: str) -> None:
    authorized = lab.ssh(node, "cat /home/vagrant/.ssh/authorized_keys")
    assert INSECURE_KEY not in authorized, f"{node} still accepts Vagrant's insecure key"
    key = lab.state_dir / "vagrant" / "machines" / node / "libvirt" / "private_key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    public = subprocess.run(["ssh-keygen", "-y", "-f", str(key)], capture_output=True, text=True, check=True)
    assert public.stdout.split()[1] in authorized, f"{node} does not know this lab's key for vagrant"
    sshd = lab.ssh(node, "sudo sshd -T")
    assert "passwordauthentication no" in sshd and "kbdinteractiveauthentication no" in sshd
    roots = lab.ssh(node, "sudo cat /root/.ssh/authorized_keys 2>/dev/null || true")
    if lab.config.role_of(node) == "nas":
        assert roots.strip() == "", f"root on {node} accepts keys: {roots}"


def test_the_export_is_only_for_the_hypervisors(lab: Lab) -> None:
    nas = placement.current(lab).nfs
    clients = lab.ssh(nas, "sudo cat /var/lib/nfs/etab").split()
    specs = {line.split("(")[0] for line in clients if "(" in line}
    covered = sorted({str(a) for spec in specs for a in ipaddress.IPv4Network(spec)})
    assert covered == sorted(lab.config.lab_ip(n.offset) for n in lab.config.nodes("hv")), specs
    # A node outside the list is refused: the NAS peer tries to mount the export. The same
    # mount from a vnode must succeed, or the refusal proves nothing (a wrong address, a dead server).
    allowed = lab.config.nodes("hv")[0].name
    assert try_mount(lab, allowed).rc == 0, f"{allowed}, a hypervisor, could not mount the export: the check is void"
    [peer] = [n.name for n in lab.config.nodes("nas") if n.name != nas]
    tried = try_mount(lab, peer)
    assert tried.rc != 0, f"{peer}, not a hypervisor, mounted the export"


def try_mount(lab: Lab, node: str) -> Any:
    """Mount the export on `node` at a scratch folder and unmount it again; testinfra's result."""
    return lab.host(node).run(
        f"mkdir -p /tmp/try && timeout 60 mount -t nfs4 -o vers=4.2,soft,timeo=50,retrans=1 "
        f"{lab.config.vip}:{PATHS.export} /tmp/try; rc=$?; umount /tmp/try 2>/dev/null; exit $rc"
    )


def test_root_ssh_between_vnodes_serves_migration_and_nothing_else(lab: Lab) -> None:
    source, target = (n.name for n in lab.config.nodes("hv"))
    # What a migration does: a libvirt connection over root SSH.
    remote = lab.ssh(source, f"sudo virsh -c qemu+ssh://{target}/system list --all --name")
    assert remote.split() == lab.ssh(target, "sudo virsh list --all --name").split(), remote
    # Any other command gets the libvirt proxy, not a shell.
    tried = lab.host(source).run(f"ssh -o BatchMode=yes {target} echo SHELL-REACHED </dev/null")
    assert "SHELL-REACHED" not in tried.stdout, f"root on {source} runs commands on {target}"
    # The same call got in (ssh exits 255 on its own failures): the refusal is the forced command's,
    # not a key, a host key or a network that failed.
    assert tried.rc != 255 and "Permission denied" not in tried.stderr, (
        f"root SSH {source} -> {target} did not authenticate ({tried.rc}: {tried.stderr.strip()}): the check is void"
    )
    # A NAS node holds neither the key nor any other vnode secret.
    for nas in (n.name for n in lab.config.nodes("nas")):
        held = lab.ssh(nas, f"sudo ls /root/.ssh {PATHS.provision}/secrets 2>/dev/null || true").split()
        assert not {"id_ed25519", "migration_key", "hv-corosync-authkey"} & set(held), f"{nas} holds {held}"


def _another_key(tmp: Path) -> str:
    key = tmp / "other"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    return " ".join(key.with_suffix(".pub").read_text().split()[:2])


@pytest.mark.parametrize("node", ALL_NODES)
def test_ssh_to_a_node_checks_the_host_key_its_console_printed(lab: Lab, node: str, tmp_path: Path) -> None:
    config = lab.ssh_config().read_text()
    assert "StrictHostKeyChecking no" not in config and "UserKnownHostsFile /dev/null" not in config
    known = lab.files.known_hosts.read_text()
    mine = [line for line in known.splitlines() if line.split()[0].split(",")[0] == node]
    assert mine, f"{node} is not in {lab.files.known_hosts}"
    # Positive control: a connection of its own (no shared one) with the learnt keys gets in.
    base = ["ssh", "-F", str(lab.ssh_config()), "-o", "ControlPath=none", node, "true"]
    got_in = subprocess.run(base, capture_output=True, text=True, timeout=120)
    assert got_in.returncode == 0, f"ssh {node} with its learnt key: {got_in.stderr}"
    # The same connection, with another key on file for the node, is refused.
    wrong = tmp_path / "known_hosts"
    wrong.write_text("".join(f"{line.split()[0]} {_another_key(tmp_path)}\n" for line in mine[:1]))
    refused = subprocess.run(
        [*base[:-2], "-o", f"UserKnownHostsFile={wrong}", node, "true"], capture_output=True, text=True, timeout=120
    )
    assert refused.returncode == 255 and "Host key verification failed" in refused.stderr, (
        f"ssh {node} with another key on file: exit {refused.returncode}, {refused.stderr.strip()}"
    )


def test_root_ssh_between_vnodes_checks_host_keys(lab: Lab) -> None:
    source, target = (n.name for n in lab.config.nodes("hv"))
    host = lab.host(source)
    # Positive control: what a migration runs (root's SSH, its own known_hosts) gets to libvirt.
    reached = host.run(f"sudo virsh -c qemu+ssh://{target}/system hostname")
    assert reached.rc == 0 and reached.stdout.strip() == target, f"{reached.stdout}{reached.stderr}"
    # The same SSH with another key on file for the target, and with none, is refused before any login.
    other = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKy2vU7rOBOgaaE8mBkvL3CUXkKOFRmpbmCrZvdgnTM0"
    for known in (f"echo '{target} {other}' >/tmp/wrong-known", ": >/tmp/wrong-known"):
        # The inner ssh's 255 is echoed: testinfra takes an exit 255 for its own SSH failing.
        tried = host.run(
            f"{known}; sudo ssh -o BatchMode=yes -o UserKnownHostsFile=/tmp/wrong-known {target} true </dev/null;"
            " echo inner-exit=$?"
        )
        assert "inner-exit=255" in tried.stdout and "Host key verification failed" in tried.stderr, (
            f"root SSH {source} -> {target} with a wrong known_hosts: {tried.stdout.strip()} {tried.stderr.strip()}"
        )


OUTSIDER_XML = """<domain type='qemu'><name>{name}</name><memory unit='MiB'>16</memory>
<os><type arch='x86_64'>hvm</type></os></domain>"""


def fence_status(lab: Lab, node: str, domain: str, role: str | None = None) -> Any:
    """fence_xvm's status request from a node, as its cluster's fence device sends it (status
    powers nothing), signed with the node's key and sent to `role`'s fence port (default: its own
    cluster's); testinfra's result."""
    port = lab.config.fence_ports[role or lab.config.role_of(node)]
    return lab.host(node).run(
        f"timeout 120 fence_xvm -a {FENCE.multicast} -p {port} -k {FENCE.key_file} -H {domain} -o status -t 20"
    )


def test_a_node_may_fence_only_its_own_cluster(lab: Lab) -> None:
    """fence_virtd obeys a node only for its own cluster's domains: not the other cluster's, and
    nothing else on the host (another lab's, a user's). Positive control first: the same request
    for the node's own peer is answered."""
    hv, peer = (n.name for n in lab.config.nodes("hv"))
    nas = lab.config.nodes("nas")[0].name
    own = fence_status(lab, hv, f"{lab.config.domain_prefix}{peer}")
    assert own.rc == 0, f"{hv} cannot ask for its peer's status: {own.stdout}{own.stderr}"
    outsider = f"ha-lab-outsider-{lab.config.name}"
    with tempfile.NamedTemporaryFile("w", suffix=".xml") as xml:
        xml.write(OUTSIDER_XML.format(name=outsider))
        xml.flush()
        assert host_network.virsh("define", xml.name).returncode == 0
    try:
        for target in (f"{lab.config.domain_prefix}{nas}", outsider):
            refused = fence_status(lab, hv, target)
            # Allowed, a running domain answers 0 and a shut-off one 2; refused, fence_virtd stays silent.
            assert refused.rc not in (0, 2), f"{hv} got the status of {target}: {refused.stdout}"
    finally:
        host_network.virsh("undefine", outsider)


def test_a_clusters_fence_key_opens_only_its_own_fence_virtd(lab: Lab) -> None:
    """Each cluster signs with its own key, on its own port: a vnode's request sent to the NAS
    cluster's fence_virtd is ignored, for a NAS node's domain too. Positive control: the same
    request from the NAS node's peer, with the NAS key, is answered."""
    hv = lab.config.nodes("hv")[0].name
    nas, nas_peer = (n.name for n in lab.config.nodes("nas"))
    target = f"{lab.config.domain_prefix}{nas}"
    own = fence_status(lab, nas_peer, target)
    assert own.rc == 0, f"{nas_peer} cannot ask for its peer's status: {own.stdout}{own.stderr}"
    foreign = fence_status(lab, hv, target, role="nas")
    assert foreign.rc not in (0, 2), f"{hv}'s key opened the NAS cluster's fence_virtd: {foreign.stdout}"
