"""Provisioning: the lab's rendered config and secrets, uploaded to each node, run in the order the clusters need."""

from __future__ import annotations

import io
import secrets
import subprocess
import tarfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness.config.facts import PATHS
from harness.config.lab import REPO, LabConfig
from harness.config.timings import TIMINGS
from harness.host import fencing
from harness.host.cluster_files import write_cluster_cibs, write_cluster_files
from harness.host.guest_image import GuestImage
from harness.lab.ssh import LabError, Ssh

NODE_SCRIPTS = REPO / "provision" / "node"  # what the nodes run; provision/host/ stays on the host


@dataclass(frozen=True)
class LabFiles:
    """Where a lab keeps what the host makes for it."""

    state_dir: Path
    console_dir: Path

    @property
    def lab_json(self) -> Path:
        return self.state_dir / "lab.json"

    @property
    def secrets(self) -> Path:
        return self.state_dir / "secrets"

    @property
    def cluster(self) -> Path:
        return self.state_dir / "cluster"

    @property
    def known_hosts(self) -> Path:
        """The nodes' host keys as learnt from their consoles (harness.lab.host_keys)."""
        return self.state_dir / "known_hosts"


def write_config(config: LabConfig, files: LabFiles, accel: str, box: str) -> None:
    """lab.json, the secrets (made once, kept after) and each cluster's files."""
    files.state_dir.mkdir(parents=True, exist_ok=True)
    files.console_dir.mkdir(parents=True, exist_ok=True)
    config.write(accel, box, files.console_dir)
    files.secrets.mkdir(mode=0o700, exist_ok=True)
    password = files.secrets / "hacluster"
    if not password.exists():
        password.touch(mode=0o600)
        password.write_text(secrets.token_urlsafe(18))
    for role in fencing.ROLES:
        fencing.write_key(files.secrets, role)
    write_cluster_files(config, TIMINGS[accel].corosync_token_ms, files.cluster, files.secrets)
    write_cluster_cibs(files.lab_json, files.cluster)
    key = files.secrets / "migration_key"
    if not key.exists():
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"{config.name}-migration", "-f", str(key)],
            check=True,
        )


def provision(config: LabConfig, files: LabFiles, ssh: Ssh, image: GuestImage, progress: Callable[[str], None]) -> None:
    """Upload provision/node/ and run it: every node, then the NAS cluster, then the hypervisor cluster."""
    for node in config.nodes():
        upload(ssh, node.name, files, config.role_of(node.name), image if node.role == "hv" else None)
    _on_each(ssh, [n.name for n in config.nodes()], "node.sh {node}", "node provisioned", progress)
    ssh.run(config.founder("nas"), f"sudo {PATHS.provision}/nas-cluster.sh", log="provision")
    progress("  nas: cluster formed, NFS served")
    _on_each(ssh, [n.name for n in config.nodes("hv")], "hv-join.sh", "export mounted, cluster joined", progress)
    ssh.run(config.founder("hv"), f"sudo {PATHS.provision}/hv-cluster.sh", log="provision")
    progress("  hv: cluster formed, guest started")


def _on_each(ssh: Ssh, nodes: list[str], script: str, done: str, progress: Callable[[str], None]) -> None:
    """Run a provisioning script on several nodes at once; all errors are reported together."""
    errors: list[str] = []

    def run(node: str) -> None:
        try:
            ssh.run(node, f"sudo {PATHS.provision}/{script.format(node=node)}", log="provision")
            progress(f"  {node}: {done}")
        except LabError as err:
            errors.append(str(err))

    threads = [threading.Thread(target=run, args=(node,)) for node in nodes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise LabError("\n".join(errors))


def upload(ssh: Ssh, node: str, files: LabFiles, role: str, image: GuestImage | None) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(NODE_SCRIPTS, arcname=".")
        tar.add(files.lab_json, arcname="lab.json")
        tar.add(files.secrets, arcname="secrets", filter=secrets_for(role))
        tar.add(files.cluster, arcname="cluster")
        tar.add(files.known_hosts, arcname="known_hosts")  # root's SSH between the vnodes checks them
        if image:
            tar.add(image.kernel, arcname="guest-image/vmlinuz")
            tar.add(image.initrd, arcname="guest-image/initrd.img")
    ssh.run(
        node,
        f"sudo rm -rf {PATHS.provision} && sudo install -d -m 0700 {PATHS.provision}"
        f" && sudo tar -xz -C {PATHS.provision}",
        stdin=buffer.getvalue(),
    )


def secrets_for(role: str) -> Callable[[tarfile.TarInfo], tarfile.TarInfo | None]:
    """Each node gets only the secrets its role uses: a NAS never holds the vnodes' migration key."""
    wanted = {"secrets", "secrets/hacluster", f"secrets/{role}-corosync-authkey", f"secrets/{role}-pacemaker-authkey"}
    wanted |= {f"secrets/{fencing.key_name(role)}"}
    if role == "hv":
        wanted |= {"secrets/migration_key", "secrets/migration_key.pub"}

    def only_wanted(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
        return info if info.name in wanted else None

    return only_wanted
