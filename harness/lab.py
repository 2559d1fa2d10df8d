"""The lab handle: bring the four nodes up, provision them, tear them down.

Vagrant (through python-vagrant) owns the machines; provisioning runs the
scripts under provision/ over SSH in the order the two clusters need;
libvirt is swept afterwards so an interrupted run leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import io
import json
import secrets
import shutil
import subprocess
import tarfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import vagrant

from harness import fencing, host_network
from harness.box import ensure_box, vagrant_env
from harness.cluster_setup import write_cluster_cibs, write_cluster_files
from harness.fencing import FENCE_KEY
from harness.guest_image import GuestImage, build_guest_image
from harness.lab_config import REPO, TIMINGS, LabConfig
from harness.observer import Observer

REMOTE_DIR = "/var/lib/halab/provision"
CONSOLE_ROOT = Path("/var/log/halab")
FIRST_HEARTBEAT_TIMEOUT_S = 900
SETTLE_TIMEOUT_S = 900


class LabError(RuntimeError):
    """The lab cannot do what was asked; the message says what to do."""


@dataclass
class Phases:
    """How long each phase of a bring-up took, in seconds."""

    seconds: dict[str, float] = field(default_factory=dict)

    def timed(self, name: str, progress: Callable[[str], None]) -> _PhaseTimer:
        return _PhaseTimer(self, name, progress)


class _PhaseTimer:
    def __init__(self, phases: Phases, name: str, progress: Callable[[str], None]) -> None:
        self.phases, self.name, self.progress = phases, name, progress

    def __enter__(self) -> None:
        self.started = time.monotonic()
        self.progress(f"lab: {self.name} ...")

    def __exit__(self, exc_type: object, *rest: object) -> None:
        took = time.monotonic() - self.started
        self.phases.seconds[self.name] = round(took, 1)
        self.progress(f"lab: {self.name} {'done' if exc_type is None else 'FAILED'} in {took:.0f} s")


class Lab:
    def __init__(self, config: LabConfig, progress: Callable[[str], None] = print) -> None:
        self.config = config
        self.progress = progress
        self.state_dir = config.state_dir
        self.logs = self.state_dir / "logs"
        self.lab_json = self.state_dir / "lab.json"
        self.secrets = self.state_dir / "secrets"
        self.console_dir = CONSOLE_ROOT / config.name
        self.down: set[str] = set()  # nodes a fault scenario powered off: cluster commands go elsewhere

    # --- Vagrant ---------------------------------------------------------
    def env(self) -> dict[str, str]:
        return {
            **vagrant_env(),
            "HA_LAB_JSON": str(self.lab_json),
            # Each lab keeps its own machine records, so two labs share one checkout.
            "VAGRANT_DOTFILE_PATH": str(self.state_dir / "vagrant"),
        }

    def _vagrant(self) -> vagrant.Vagrant:
        self.logs.mkdir(parents=True, exist_ok=True)
        log = vagrant.make_file_cm(str(self.logs / "vagrant.log"), "a")
        return vagrant.Vagrant(root=str(REPO), env=self.env(), out_cm=log, err_cm=log)

    def exists(self) -> bool:
        return self.lab_json.exists()

    def status(self) -> dict[str, str]:
        if not self.exists():
            return {}
        return {s.name: s.state for s in self._vagrant().status()}

    def running(self) -> bool:
        states = self.status()
        return bool(states) and all(state == "running" for state in states.values())

    def require_running(self) -> None:
        states = self.status()
        if not states or not all(state == "running" for state in states.values()):
            shown = ", ".join(f"{n} {s}" for n, s in states.items()) or "not created"
            raise LabError(f"lab {self.config.name} is not running ({shown}): run 'ha-lab up' first")

    # --- bring-up --------------------------------------------------------
    def up(self, accel: str) -> Phases:
        """Bring the lab up, or finish bringing it up: every step is idempotent."""
        phases = Phases()
        if not self.exists():
            host_network.check_free(self.config)
        self.logs.mkdir(parents=True, exist_ok=True)
        with phases.timed("guest image", self.progress):
            image = build_guest_image(progress=self.progress)
        with phases.timed("box", self.progress):
            box = ensure_box(self.logs / "box-build.log", self.progress)
        if box.built_s is not None:
            phases.seconds["box build (cold)"] = round(box.built_s, 1)
        self._write_config(accel, box.name)
        with phases.timed("vagrant up", self.progress):
            self._vagrant_up()
        self.start_fencing()
        with phases.timed("provisioning", self.progress):
            self.provision(image, refresh=False)  # _write_config just ran
        with phases.timed("cluster settle", self.progress):
            for node in ("nas2", "vnode3"):
                self.ssh(node, f"sudo crm_resource --wait --timeout={SETTLE_TIMEOUT_S}s", log="settle")
        with (
            phases.timed("guest first heartbeat", self.progress),
            Observer(self.config.host_ip, self.config.observer_port) as observer,
        ):
            first = observer.wait_for_heartbeat(FIRST_HEARTBEAT_TIMEOUT_S)
        # The guest's own uptime then tells a slow boot from a late start.
        phases.seconds["guest uptime at first heartbeat"] = round(first.hb.uptime_ns / 1e9, 1)
        (self.state_dir / "bringup.json").write_text(json.dumps({"accel": accel, **phases.seconds}, indent=2))
        return phases

    def _write_config(self, accel: str, box: str) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.console_dir.mkdir(parents=True, exist_ok=True)
        self.config.write(accel, box, self.console_dir)
        self.secrets.mkdir(mode=0o700, exist_ok=True)
        password = self.secrets / "hacluster"
        if not password.exists():
            password.touch(mode=0o600)
            password.write_text(secrets.token_urlsafe(18))
        fencing.write_key(self.secrets)
        write_cluster_files(self.config, TIMINGS[accel].corosync_token_ms, self.state_dir / "cluster", self.secrets)
        write_cluster_cibs(self.lab_json, self.state_dir / "cluster")
        key = self.secrets / "migration_key"
        if not key.exists():
            subprocess.run(
                ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"{self.config.name}-migration", "-f", str(key)],
                check=True,
            )

    def start_fencing(self) -> None:
        """The host's fence_virtd for this lab (no systemd runs it): the clusters' fencing goes through it."""
        pid = fencing.ensure_running(self.config, self.secrets)
        self.progress(f"lab: fence_virtd listening (pid {pid}), log {self.logs / 'fence_virtd.log'}")

    def _vagrant_up(self) -> None:
        log = open(self.logs / "vagrant.log", "a")  # noqa: SIM115 - closed below, after streaming
        try:
            for line in self._vagrant().up(no_provision=True, stream_output=True):
                log.write(line)
                log.flush()
                text = line.strip()
                # The few lines worth a glance; the rest is in the log.
                if text.startswith("==>") and any(
                    key in text for key in ("Creating domain", "Starting domain", "Machine booted", "Waiting for SSH")
                ):
                    self.progress(f"  {text[4:]}")
        except subprocess.CalledProcessError as err:
            raise LabError(f"vagrant up failed (exit {err.returncode}); see {self.logs / 'vagrant.log'}") from err
        finally:
            log.close()

    # --- node access -----------------------------------------------------
    def ssh_config(self) -> Path:
        """Vagrant's SSH config, plus one shared connection per node (see `_connect`)."""
        path = self.state_dir / "ssh_config"
        if not path.exists():
            # An SSH handshake costs a TCG node a second or more; a test makes hundreds of calls.
            # ControlMaster stays "no": only _connect starts masters, with no pipes to hold open.
            shared = (
                f"Host *\n  ControlMaster no\n  ControlPath {self._control_dir()}/%C\n"
                "  ServerAliveInterval 15\n  ServerAliveCountMax 4\n"
            )
            path.write_text(self._vagrant().ssh_config() + "\n" + shared)
        return path

    def _control_dir(self) -> Path:
        # Socket paths must stay under 108 bytes, so not under a deep checkout.
        digest = hashlib.sha256(str(self.state_dir).encode()).hexdigest()[:10]
        path = Path("/tmp") / f"halab-ssh-{self.config.name}-{digest}"
        path.mkdir(mode=0o700, exist_ok=True)
        return path

    def _connect(self, node: str) -> None:
        """Start this node's shared SSH connection unless it runs; calls without one still work."""
        config = str(self.ssh_config())
        if subprocess.run(["ssh", "-F", config, "-O", "check", node], capture_output=True, check=False).returncode == 0:
            return
        subprocess.run(
            ["ssh", "-F", config, "-o", "BatchMode=yes", "-o", "ControlMaster=yes", "-o", "ControlPersist=600",
             "-f", "-N", node],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False, timeout=120,
        )  # fmt: skip

    def ssh_argv(self, node: str, command: str) -> list[str]:
        """The command line that runs `command` on `node` over its shared connection."""
        self._connect(node)
        return ["ssh", "-F", str(self.ssh_config()), "-o", "BatchMode=yes", node, command]

    def ssh(self, node: str, command: str, log: str | None = None, stdin: bytes | None = None) -> str:
        """Run a command on a node and return its output.

        With `log`, the output streams to logs/NODE-LOG.log instead (long
        provisioning steps: follow them with tail -f) and "" is returned.
        """
        args = self.ssh_argv(node, command)
        if log:
            path = self.logs / f"{node}-{log}.log"
            with open(path, "a") as f:
                f.write(f"$ {command}\n")
                f.flush()
                result = subprocess.run(args, input=stdin or b"", stdout=f, stderr=subprocess.STDOUT, check=False)
            out, shown = "", path.read_text(errors="replace")
        else:
            done = subprocess.run(args, input=stdin or b"", capture_output=True, check=False)
            out = done.stdout.decode(errors="replace")
            shown = out + done.stderr.decode(errors="replace")
            result = done
        if result.returncode != 0:
            tail = "\n".join(shown.splitlines()[-15:])
            raise LabError(f"{node}: '{command}' failed (exit {result.returncode}):\n{tail}")
        return out

    def ssh_bytes(self, node: str, command: str) -> bytes:
        """Run a command on a node and return its output unchanged (file contents, images)."""
        done = subprocess.run(self.ssh_argv(node, command), stdin=subprocess.DEVNULL, capture_output=True, check=False)
        if done.returncode != 0:
            raise LabError(f"{node}: '{command}' failed (exit {done.returncode}): {done.stderr.decode()[-500:]}")
        return done.stdout

    def clock_offset_ns(self, node: str) -> int:
        """The node's CLOCK_REALTIME less the host's, within half an SSH round trip."""
        before = time.time_ns()
        remote = int(self.ssh(node, "date +%s%N"))
        after = time.time_ns()
        return remote - (before + after) // 2

    def accel(self) -> str:
        """The accelerator this lab was brought up with (kvm or tcg)."""
        if not self.exists():
            raise LabError(f"lab {self.config.name} has not been brought up: run 'ha-lab up' first")
        return str(json.loads(self.lab_json.read_text())["accel"])

    def host(self, node: str) -> Any:  # testinfra's Host
        import testinfra

        return testinfra.get_host(f"ssh://{node}", ssh_config=str(self.ssh_config()), sudo=True)

    # --- provisioning ----------------------------------------------------
    def provision(self, image: GuestImage | None = None, refresh: bool = True) -> None:
        """Upload provision/ and run it: every node, then the NAS cluster, then the hypervisor cluster."""
        image = image or build_guest_image(progress=self.progress)
        # lab.json and the clusters' files as this code makes them: a lab brought up by older
        # code gets what changed since (new settings, the fence device), keys and passwords kept.
        if refresh:
            self._write_config(self.accel(), str(json.loads(self.lab_json.read_text())["box"]))
        for node in self.config.nodes():
            self._upload(node.name, image if node.role == "hv" else None)
        self._on_each([n.name for n in self.config.nodes()], "node.sh {node}", "node provisioned")
        self.ssh("nas2", f"sudo {REMOTE_DIR}/nas-cluster.sh", log="provision")
        self.progress("  nas: cluster formed, NFS served")
        self._on_each([n.name for n in self.config.nodes("hv")], "hv-join.sh", "export mounted, cluster joined")
        self.ssh("vnode3", f"sudo {REMOTE_DIR}/hv-cluster.sh", log="provision")
        self.progress("  hv: cluster formed, guest started")

    def _on_each(self, nodes: list[str], script: str, done: str) -> None:
        """Run a provisioning script on several nodes at once; all errors are reported together."""
        errors: list[str] = []

        def run(node: str) -> None:
            try:
                self.ssh(node, f"sudo {REMOTE_DIR}/{script.format(node=node)}", log="provision")
                self.progress(f"  {node}: {done}")
            except LabError as err:
                errors.append(str(err))

        threads = [threading.Thread(target=run, args=(node,)) for node in nodes]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise LabError("\n".join(errors))

    def _upload(self, node: str, image: GuestImage | None) -> None:
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
            tar.add(REPO / "provision", arcname=".", filter=_skip_box)
            tar.add(self.lab_json, arcname="lab.json")
            tar.add(self.secrets, arcname="secrets", filter=_secrets_for(self.config.role_of(node)))
            tar.add(self.state_dir / "cluster", arcname="cluster")
            if image:
                tar.add(image.kernel, arcname="guest-image/vmlinuz")
                tar.add(image.initrd, arcname="guest-image/initrd.img")
        self.ssh(
            node,
            f"sudo rm -rf {REMOTE_DIR} && sudo install -d -m 0700 {REMOTE_DIR} && sudo tar -xz -C {REMOTE_DIR}",
            stdin=buffer.getvalue(),
        )

    # --- tear-down -------------------------------------------------------
    def destroy(self) -> list[str]:
        """Destroy the machines and sweep what libvirt still holds of this lab."""
        stopped = ["fence_virtd"] if fencing.stop(self.state_dir) else []
        if self.exists():
            if (self.state_dir / "ssh_config").exists():
                for node in self.config.nodes():
                    subprocess.run(["ssh", "-F", str(self.ssh_config()), "-O", "exit", node.name],
                                   capture_output=True, check=False)  # fmt: skip
            try:
                self._vagrant().destroy()
            except subprocess.CalledProcessError:
                self.progress("lab: vagrant destroy failed; sweeping libvirt directly")
        swept = host_network.sweep(self.config)
        shutil.rmtree(self._control_dir(), ignore_errors=True)
        shutil.rmtree(self.state_dir, ignore_errors=True)
        shutil.rmtree(self.console_dir, ignore_errors=True)
        return stopped + swept


def _secrets_for(role: str) -> Callable[[tarfile.TarInfo], tarfile.TarInfo | None]:
    """Each node gets only the secrets its role uses: a NAS never holds the vnodes' migration key."""
    wanted = {"secrets", "secrets/hacluster", f"secrets/{role}-corosync-authkey", f"secrets/{role}-pacemaker-authkey"}
    wanted |= {f"secrets/{FENCE_KEY}"}
    if role == "hv":
        wanted |= {"secrets/migration_key", "secrets/migration_key.pub"}

    def only_wanted(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
        return info if info.name in wanted else None

    return only_wanted


def _skip_box(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
    # The box recipe and the guest build stay on the host.
    return None if info.name.startswith(("./box", "./guest/probe")) else info
