"""The lab's generated configuration, checked offline with the real tools.

The same scripts provisioning runs build each cluster's CIB with pcs' file
mode; crm_verify must accept it and crm_simulate must plan a guest move as a
live migration. drbdadm parses the generated DRBD resource; Vagrant validates
the Vagrantfile against the rendered lab config.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness.cluster.state import ClusterState, leftovers, locations_from_cib, operations_from_cib
from harness.cluster.watch import cluster_keys
from harness.config.lab import REPO, LabConfig
from harness.host.box import vagrant_env
from harness.host.cluster_files import PCS_DIR, write_cluster_files
from tests.conftest import need

NODE_SCRIPTS = REPO / "provision" / "node"  # as uploaded to the nodes


@pytest.fixture(scope="module")
def lab_json(tmp_path_factory: pytest.TempPathFactory) -> Path:
    state = tmp_path_factory.mktemp("lab")
    config = LabConfig(name="offline", subnet="10.99.0.0/24", state_root=state)
    return config.write("tcg", box="halab-debian12-test", console_dir=state / "console")


def run(args: list[str], lab_json: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, capture_output=True, text=True, env={**os.environ, "LAB_JSON": str(lab_json), **env}, check=False
    )


def build_cib(tmp_path: Path, lab_json: Path, script: str) -> Path:
    need("pcs", "pcs")
    need("cibadmin", "pacemaker-cli-utils")
    cib = tmp_path / f"{script}.xml"
    cib.write_text(subprocess.run(["cibadmin", "--empty"], capture_output=True, text=True, check=True).stdout)
    role = script.split("-")[0]
    # As provisioning builds it: fencing first, then the resources (harness/host/cluster_files.py).
    for step in ("fencing.sh", script):
        result = run([str(PCS_DIR / step), str(cib), role], lab_json)
        assert result.returncode == 0, result.stderr
    return cib


def simulate(cib: Path, nodes: list[str], out: Path, lab_json: Path) -> str:
    """Bring the nodes up in a simulation, run the transition, save the resulting CIB to `out`."""
    # Two-node clusters keep quorum with one node (corosync two_node): say so.
    args = ["crm_simulate", "--xml-file", str(cib), "--simulate", "--quorum", "true", "--save-output", str(out)]
    for node in nodes:
        args += ["--node-up", node]
    result = run(args, lab_json)
    assert result.returncode == 0, result.stderr
    return result.stdout


def crm_mon(cib: Path, lab_json: Path) -> ClusterState:
    result = run(["crm_mon", "-1", "--output-as=xml"], lab_json, CIB_file=str(cib))
    assert result.returncode == 0, result.stderr
    return ClusterState.from_xml(result.stdout)


def score_for_promotion(cib: Path, node: str, lab_json: Path) -> None:
    """What the drbd agent does on an UpToDate node (crm_master): ask to be promoted."""
    scored = run(["crm_attribute", "--node", node, "--name", "master-drbd_r0", "--update", "10000",
                  "--lifetime", "reboot"], lab_json, CIB_file=str(cib))  # fmt: skip
    assert scored.returncode == 0, scored.stderr


def operator_moves(cib: Path, resource: str, node: str, lab_json: Path) -> None:
    """The operator's command (`crm_resource --move`), against a simulated cluster's CIB."""
    moved = run(["crm_resource", "--move", "--resource", resource, "--node", node], lab_json, CIB_file=str(cib))
    assert moved.returncode == 0, moved.stderr


@pytest.mark.parametrize("script", ["nas-resources.sh", "hv-resources.sh"])
def test_generated_cib_passes_crm_verify(tmp_path: Path, lab_json: Path, script: str) -> None:
    cib = build_cib(tmp_path, lab_json, script)
    result = run(["crm_verify", "--xml-file", str(cib), "--verbose"], lab_json)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "error" not in (result.stdout + result.stderr).lower()


def test_nas_service_starts_with_the_drbd_primary(tmp_path: Path, lab_json: Path) -> None:
    cib = build_cib(tmp_path, lab_json, "nas-resources.sh")
    simulate(cib, ["nas1", "nas2"], tmp_path / "started.xml", lab_json)
    assert crm_mon(tmp_path / "started.xml", lab_json).where("drbd_r0", role="Promoted") == []
    score_for_promotion(tmp_path / "started.xml", "nas2", lab_json)
    simulate(tmp_path / "started.xml", [], tmp_path / "state.xml", lab_json)
    state = crm_mon(tmp_path / "state.xml", lab_json)
    [primary] = state.where("drbd_r0", role="Promoted")
    assert primary == "nas2"
    group = ["nfs_fs", "nfs_server", "nfs_export", "nfs_ip"]
    for resource in group:
        assert state.where(resource) == [primary], resource
    assert state.failures == ()


def move_the_guest(tmp_path: Path, lab_json: Path) -> tuple[str, str, str]:
    """Start the hypervisor cluster's CIB, move the guest the operator's way and simulate it:
    (source, target, transition); the result is tmp_path/moved.xml."""
    cib = build_cib(tmp_path, lab_json, "hv-resources.sh")
    simulate(cib, ["vnode2", "vnode3"], tmp_path / "started.xml", lab_json)
    [source] = crm_mon(tmp_path / "started.xml", lab_json).where("guest")
    target = "vnode3" if source == "vnode2" else "vnode2"
    operator_moves(tmp_path / "started.xml", "guest", target, lab_json)
    transition = simulate(tmp_path / "started.xml", [], tmp_path / "moved.xml", lab_json)
    return source, target, transition


def test_moving_the_guest_is_a_live_migration(tmp_path: Path, lab_json: Path) -> None:
    source, target, transition = move_the_guest(tmp_path, lab_json)
    assert re.search(rf"Migrate\s+guest\s+\(\s*{source}\s+->\s+{target}\s*\)", transition), transition
    assert re.search(rf"Resource action: guest\s+migrate_to on {source}", transition), transition
    assert re.search(rf"Resource action: guest\s+migrate_from on {target}", transition), transition
    # A stop and start would run a real start on the target; a migration only
    # cleans up the source and completes with a pseudo start.
    assert not re.search(r"Resource action: guest\s+start on", transition), transition
    assert crm_mon(tmp_path / "moved.xml", lab_json).where("guest") == [target]


def test_the_guests_monitor_keeps_no_utilization_the_cluster_would_not_read(tmp_path: Path, lab_json: Path) -> None:
    """VirtualDomain's monitor by default refreshes the guest's cpu and memory utilization (a virsh
    and a crm_resource per attribute, every monitor): only a placement strategy other than the
    default reads them, and on a loaded TCG vnode they cost most of a monitor's time."""
    cib = ET.parse(build_cib(tmp_path, lab_json, "hv-resources.sh")).getroot()
    [guest] = cib.findall(".//primitive[@id='guest']")
    params = {nv.get("name"): nv.get("value") for nv in guest.findall("./instance_attributes/nvpair")}
    for name in ("autoset_utilization_cpu", "autoset_utilization_host_memory", "autoset_utilization_hv_memory"):
        assert params.get(name) == "false", f"{name}={params.get(name)}: each monitor would refresh it"
    strategy = [nv.get("value") for nv in cib.findall(".//crm_config//nvpair[@name='placement-strategy']")]
    assert strategy in ([], ["default"]), f"placement-strategy {strategy} reads utilization: keep it up to date"


DRBDADM_84 = "/usr/lib/drbd/drbdadm-84"  # what drbdadm runs when the 8.4 module is loaded, as in the nodes


def drbd_dump(config: Path, as_host: str) -> subprocess.CompletedProcess[str]:
    """Parse the config as `as_host` would: drbdadm looks itself up by hostname."""
    script = f"hostname {as_host} && exec {DRBDADM_84} -c {config} dump r0"
    return subprocess.run(["unshare", "--uts", "sh", "-c", script], capture_output=True, text=True, check=False)


def test_drbd_resource_parses_with_the_84_tools(tmp_path: Path, lab_json: Path) -> None:
    need("drbdadm", "drbd-utils")
    result = run([str(NODE_SCRIPTS / "drbd" / "resource.sh")], lab_json)
    assert result.returncode == 0, result.stderr
    config = tmp_path / "r0.res"
    config.write_text(result.stdout)
    for node, address in (("nas1", "10.99.1.21:7789"), ("nas2", "10.99.1.22:7789")):
        parsed = drbd_dump(config, node)
        assert parsed.returncode == 0, parsed.stderr
        assert f"address          ipv4 {address};" in parsed.stdout
        assert "fencing          resource-only;" in parsed.stdout
        assert "ping-timeout     100;" in parsed.stdout  # TCG timings
    # The check is live: a missing semicolon fails it.
    broken = tmp_path / "broken.res"
    broken.write_text(result.stdout.replace("protocol C;", "protocol C"))
    assert drbd_dump(broken, "nas1").returncode != 0


def test_vagrantfile_validates(lab_json: Path) -> None:
    need("vagrant", "vagrant and vagrant-libvirt")
    result = subprocess.run(
        ["vagrant", "validate"],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**vagrant_env(), "HA_LAB_JSON": str(lab_json), "VAGRANT_DOTFILE_PATH": str(lab_json.parent / "vagrant")},
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "validated successfully" in result.stdout


def test_vagrantfile_without_lab_config_says_what_to_do() -> None:
    need("vagrant", "vagrant and vagrant-libvirt")
    env = {k: v for k, v in vagrant_env().items() if k != "HA_LAB_JSON"}
    result = subprocess.run(["vagrant", "validate"], cwd=REPO, capture_output=True, text=True, env=env, check=False)
    assert result.returncode != 0
    assert "HA_LAB_JSON is not set" in result.stdout + result.stderr


def test_cluster_membership_files(tmp_path: Path) -> None:
    need("pcs", "pcs")
    config = LabConfig(subnet="10.99.0.0/24", state_root=tmp_path)
    keys = tmp_path / "secrets"
    keys.mkdir(mode=0o700)
    write_cluster_files(config, 10000, tmp_path / "cluster", keys)
    nas = (tmp_path / "cluster" / "nas" / "corosync.conf").read_text()
    assert "cluster_name: nas" in nas and "token: 10000" in nas and "two_node: 1" in nas
    assert "ring0_addr: 10.99.0.21" in nas and "ring0_addr: 10.99.0.22" in nas
    assert "vnode2" not in nas
    hv = (tmp_path / "cluster" / "hv" / "corosync.conf").read_text()
    assert "ring0_addr: 10.99.0.12" in hv and "ring0_addr: 10.99.0.13" in hv
    key = keys / "nas-corosync-authkey"
    assert len(key.read_bytes()) == 256 and (key.stat().st_mode & 0o777) == 0o600
    first = key.read_bytes()
    write_cluster_files(config, 10000, tmp_path / "cluster", keys)
    assert key.read_bytes() == first, "keys are made once per lab"
    assert (keys / "hv-pacemaker-authkey").read_bytes() != (keys / "nas-pacemaker-authkey").read_bytes()


def test_moving_the_nfs_group_moves_the_drbd_primary_with_it(tmp_path: Path, lab_json: Path) -> None:
    """What the nas_move scenario asks of the cluster: promote the other node, the whole group follows."""
    cib = build_cib(tmp_path, lab_json, "nas-resources.sh")
    simulate(cib, ["nas1", "nas2"], tmp_path / "started.xml", lab_json)
    for node in ("nas1", "nas2"):  # both disks UpToDate: both may be promoted
        score_for_promotion(tmp_path / "started.xml", node, lab_json)
    simulate(tmp_path / "started.xml", [], tmp_path / "served.xml", lab_json)
    [primary] = crm_mon(tmp_path / "served.xml", lab_json).where("drbd_r0", role="Promoted")
    target = "nas1" if primary == "nas2" else "nas2"
    operator_moves(tmp_path / "served.xml", "nfs", target, lab_json)
    transition = simulate(tmp_path / "served.xml", [], tmp_path / "moved.xml", lab_json)
    assert re.search(rf"Resource action: drbd_r0\s+demote on {primary}", transition), transition
    assert re.search(rf"Resource action: drbd_r0\s+promote on {target}", transition), transition
    state = crm_mon(tmp_path / "moved.xml", lab_json)
    assert state.where("drbd_r0", role="Promoted") == [target]
    assert state.where("nfs_ip") == [target] and state.where("nfs_server") == [target]
    # The constraint the move made is what the scenarios look for afterwards.
    cib_text = (tmp_path / "moved.xml").read_text()
    assert [c.id for c in leftovers(locations_from_cib(cib_text))] == ["cli-prefer-nfs"]


def test_the_cib_history_of_a_migration_and_the_watchers_view_of_it(tmp_path: Path, lab_json: Path) -> None:
    """Parsed from what the real tools write: the operations the move verdicts and the watchers read."""
    source, target, _ = move_the_guest(tmp_path, lab_json)
    ops = {(o.operation, o.node) for o in operations_from_cib((tmp_path / "moved.xml").read_text()) if o.rc == 0}
    assert {("migrate_to", source), ("migrate_from", target)} <= ops
    xml = run(["crm_mon", "-1", "--output-as=xml"], lab_json, CIB_file=str(tmp_path / "moved.xml")).stdout
    keys = cluster_keys(xml)
    assert keys["guest"] == f"Started {target}"
    assert keys[f"node {source}"] == "online" and keys["failed actions"] == "0"


def test_cib_push_replaces_resources_and_keeps_the_clusters_own(tmp_path: Path, lab_json: Path) -> None:
    """provision/node/cib-push.py against a CIB file (cibadmin honours CIB_file), as it runs on a node."""
    need("cibadmin", "pacemaker-cli-utils")
    made = tmp_path / "made.xml"
    made.write_text(build_cib(tmp_path, lab_json, "hv-resources.sh").read_text())
    live = tmp_path / "live.xml"
    live.write_text(subprocess.run(["cibadmin", "--empty"], capture_output=True, text=True, check=True).stdout)
    env = {"CIB_file": str(live)}
    for name, value in (("dc-version", "2.1.5-test"), ("stonith-enabled", "false")):
        assert (
            run(
                ["crm_attribute", "--type", "crm_config", "--name", name, "--update", value], lab_json, **env
            ).returncode
            == 0
        )
    simulate(live, ["vnode2", "vnode3"], live, lab_json)  # the nodes join: their entries are the cluster's
    pushed = run([str(NODE_SCRIPTS / "cib-push.py"), str(made)], lab_json, **env)
    assert pushed.returncode == 0, pushed.stderr
    query = run(["cibadmin", "--query"], lab_json, **env).stdout
    assert 'id="guest"' in query and 'name="allow-migrate"' in query
    assert 'name="dc-version" value="2.1.5-test"' in query  # the cluster's own property stays
    assert re.findall(r'name="stonith-enabled" value="(\w+)"', query) == ["true"]  # ours replaces theirs
    assert run(["crm_verify", "--xml-file", str(live)], lab_json).returncode == 0
    again = run([str(NODE_SCRIPTS / "cib-push.py"), str(made)], lab_json, **env)
    assert again.returncode == 0 and run(["cibadmin", "--query"], lab_json, **env).stdout.count('id="guest"') == 1


@pytest.mark.parametrize(("script", "nodes", "service"), [
    ("hv-resources.sh", ["vnode2", "vnode3"], "guest"),
    ("nas-resources.sh", ["nas1", "nas2"], "nfs_server"),
])  # fmt: skip
def test_a_lost_node_is_fenced_through_fence_xvm_and_its_service_recovered(
    tmp_path: Path, lab_json: Path, script: str, nodes: list[str], service: str
) -> None:
    """Fencing on: the scheduler power-cycles a node it lost before it starts the node's service elsewhere."""
    cib = build_cib(tmp_path, lab_json, script)
    simulate(cib, nodes, tmp_path / "started.xml", lab_json)
    if service == "nfs_server":
        for node in nodes:
            score_for_promotion(tmp_path / "started.xml", node, lab_json)
        simulate(tmp_path / "started.xml", [], tmp_path / "started.xml", lab_json)
    [lost] = crm_mon(tmp_path / "started.xml", lab_json).where(service)
    [survivor] = [n for n in nodes if n != lost]
    result = run(["crm_simulate", "--xml-file", str(tmp_path / "started.xml"), "--simulate", "--quorum", "true",
                  "--node-fail", lost, "--save-output", str(tmp_path / "after.xml")], lab_json)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert re.search(rf"Fencing {lost} \(reboot\)|Fence \(reboot\) {lost}", result.stdout), result.stdout
    assert crm_mon(tmp_path / "after.xml", lab_json).where(service) == [survivor]


def test_a_guest_start_refused_on_the_survivor_is_retried_there(tmp_path: Path, lab_json: Path) -> None:
    """Its vnode died; the start on the other vnode fails (the dead QEMU's NFS lock lives until the lease
    ends): the scheduler must try that start again, not leave the guest stopped for good."""
    cib = build_cib(tmp_path, lab_json, "hv-resources.sh")
    # Not fatal: the controller counts the failed start as one failure, not INFINITY (which bans the node).
    assert re.search(r'name="start-failure-is-fatal" value="false"', cib.read_text())
    simulate(cib, ["vnode2", "vnode3"], tmp_path / "started.xml", lab_json)
    [lost] = crm_mon(tmp_path / "started.xml", lab_json).where("guest")
    [survivor] = [n for n in ("vnode2", "vnode3") if n != lost]
    fenced = run(["crm_simulate", "--xml-file", str(tmp_path / "started.xml"), "--simulate", "--quorum", "true",
                  "--node-fail", lost, "--save-output", str(tmp_path / "fenced.xml")], lab_json)  # fmt: skip
    assert fenced.returncode == 0, fenced.stderr
    refused = run(["crm_simulate", "--xml-file", str(tmp_path / "fenced.xml"), "--simulate", "--quorum", "true",
                   "--op-inject", f"guest_start_0@{survivor}=1", "--save-output", str(tmp_path / "again.xml")],
                  lab_json)  # fmt: skip
    assert refused.returncode == 0, refused.stderr
    assert re.search(rf"Recover\s+guest\s+\(\s*{survivor}\s*\)", refused.stdout), refused.stdout
    assert crm_mon(tmp_path / "again.xml", lab_json).where("guest") == [survivor]


def test_the_nas_nodes_may_run_a_monitor_beside_the_next_start(tmp_path: Path, lab_json: Path) -> None:
    """One vCPU each: without these the controller's throttle serialises first monitors into the NFS chain."""
    cib = build_cib(tmp_path, lab_json, "nas-resources.sh").read_text()
    assert re.findall(r'name="load-threshold" value="([^"]+)"', cib) == ["500%"]
    assert re.findall(r'name="node-action-limit" value="([^"]+)"', cib) == ["4"]


def test_fencing_reaches_each_nodes_own_domain_and_never_both_at_once(tmp_path: Path, lab_json: Path) -> None:
    lab = json.loads(lab_json.read_text())
    for script, role, nodes in (
        ("hv-resources.sh", "hv", ["vnode2", "vnode3"]),
        ("nas-resources.sh", "nas", ["nas1", "nas2"]),
    ):
        cib = build_cib(tmp_path, lab_json, script).read_text()
        assert re.search(r'name="stonith-enabled" value="true"', cib)
        params = dict(
            re.findall(r'<nvpair id="fence_\w+-instance_attributes-([\w-]+)" name="[\w-]+" value="([^"]*)"', cib)
        )
        assert params["pcmk_host_map"] == ";".join(f"{n}:{lab['domain_prefix']}{n}" for n in nodes)
        assert params["ipport"] == str(lab["fence_ports"][role]) and params["key_file"] == "/etc/cluster/fence_xvm.key"
        delays = dict(item.split(":") for item in params["pcmk_delay_base"].split(";"))
        assert sorted(delays) == nodes and len(set(delays.values())) == 2, delays


def test_fencing_only_push_turns_fencing_on_in_a_running_cluster_and_touches_nothing_else(
    tmp_path: Path, lab_json: Path
) -> None:
    """A lab provisioned before fencing existed: its live CIB has the guest, no fence device."""
    need("cibadmin", "pacemaker-cli-utils")
    made = build_cib(tmp_path, lab_json, "hv-resources.sh")
    live = tmp_path / "live.xml"
    live.write_text(subprocess.run(["cibadmin", "--empty"], capture_output=True, text=True, check=True).stdout)
    env = {"CIB_file": str(live)}
    without = run([str(PCS_DIR / "hv-resources.sh"), str(live)], lab_json)  # resources only
    assert without.returncode == 0, without.stderr
    before = run(["cibadmin", "--query", "--scope", "resources"], lab_json, **env).stdout
    assert 'class="stonith"' not in before
    pushed = run([str(NODE_SCRIPTS / "cib-push.py"), "--fencing-only", str(made)], lab_json, **env)
    assert pushed.returncode == 0, pushed.stderr
    after = run(["cibadmin", "--query"], lab_json, **env).stdout
    assert 'id="fence_hv"' in after and re.findall(r'name="stonith-enabled" value="(\w+)"', after) == ["true"]

    def guest(text: str) -> str:
        element = ET.fromstring(text).find(".//primitive[@id='guest']")
        assert element is not None
        return ET.canonicalize(ET.tostring(element), strip_text=True)

    assert guest(after) == guest(before), "the guest's definition changed"
    again = run([str(NODE_SCRIPTS / "cib-push.py"), "--fencing-only", str(made)], lab_json, **env)
    assert again.returncode == 0 and run(["cibadmin", "--query"], lab_json, **env).stdout.count('id="fence_hv"') == 1
    # Pushed on every provisioning of a running lab: the properties arrive once, however often.
    pushed_twice = run(["cibadmin", "--query"], lab_json, **env).stdout
    assert re.findall(r'name="start-failure-is-fatal" value="(\w+)"', pushed_twice) == ["false"]
    usage = run([str(NODE_SCRIPTS / "cib-push.py"), "--fencing", str(made)], lab_json, **env)
    assert usage.returncode != 0 and "usage: cib-push.py [--fencing-only] CIB_FILE" in usage.stderr
