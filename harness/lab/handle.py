"""The lab handle: bring the four nodes up, provision them, tear them down.

Vagrant owns the machines (`machines`), commands reach the nodes over SSH (`ssh`),
provisioning runs the scripts under provision/node/ in the order the clusters need
(`provision`); libvirt is swept afterwards so an interrupted run leaves nothing behind.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.config.facts import LIBVIRT, PATHS
from harness.config.lab import LabConfig
from harness.host import domains, fencing, preflight, snapshots
from harness.host import network as host_network
from harness.host.box import ensure_box
from harness.host.guest_image import GuestImage, build_guest_image
from harness.lab import host_keys, provisioned
from harness.lab import provision as provisioning
from harness.lab.machines import Machines
from harness.lab.ssh import TIMEOUT_S, LabError, Ssh
from harness.probe.observer import Observer

FIRST_HEARTBEAT_TIMEOUT_S = 900
_STATE = f"sudo virsh domstate {LIBVIRT.domain} 2>/dev/null"  # empty where the guest is not defined
SUSPEND_GUEST = f'[ "$({_STATE})" != running ] || sudo virsh suspend {LIBVIRT.domain} >/dev/null'
RESUME_GUEST = f'[ "$({_STATE} --reason)" != "paused (user)" ] || sudo virsh resume {LIBVIRT.domain} >/dev/null'
SETTLE_TIMEOUT_S = 900
# A restored or reverted node holds a lease the host's DHCP server may not know (a restore defines
# the network anew): Vagrant finds a node's address in those leases. One DHCP exchange for the
# address the node has, by a second dhclient that configures nothing (-sf /bin/true) and stops.
# A restored node answers SSH within seconds; a minute means it is not there.
REACH_TIMEOUT_S = 60.0
RENEW_LEASE = (
    "sudo cp /var/lib/dhcp/dhclient.eth0.leases /run/halab-renew.leases"
    " && sudo timeout 30 dhclient -4 -1 -i -I -sf /bin/true -pf /run/halab-renew.pid -lf /run/halab-renew.leases eth0"
    " 2>/dev/null && sudo kill $(cat /run/halab-renew.pid)"
)


def bring_up_way(
    new: bool, restore: bool, entry: provisioned.Entry, stands_on: provisioned.Entry | None, running: bool
) -> str:
    """How `Lab.up` makes the lab: "restore" a new lab from the kept entry of its recipe, "reuse"
    a running lab that stands on that very entry as it is, else "provision" (vagrant up, then
    every provisioning step, idempotent)."""
    if new:
        return "restore" if restore and entry.complete else "provision"
    if running and stands_on is not None and stands_on.key == entry.key:
        return "reuse"
    return "provision"


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
        self.console_dir = Path(PATHS.logs) / config.name
        self.files = provisioning.LabFiles(self.state_dir, self.console_dir)
        self.lab_json = self.files.lab_json
        self.secrets = self.files.secrets
        self.machines = Machines(self.state_dir, self.logs, self.lab_json)
        self.remote = Ssh(self.state_dir, self.logs, config.name, self.machines.ssh_config)
        self.down: set[str] = set()  # nodes a fault scenario powered off: cluster commands go elsewhere
        self.started_from = ""  # the snapshot the lab was last reverted to, if any

    # --- state -------------------------------------------------------------
    def exists(self) -> bool:
        return self.lab_json.exists()

    def status(self) -> dict[str, str]:
        if not self.exists():
            return {}
        self.refresh_config()
        return domains.states(self.config)

    def refresh_config(self) -> None:
        """lab.json as this code renders it (the Vagrantfile reads it), accelerator and box kept:
        a lab brought up by older code is read with the keys this code's files expect."""
        made = json.loads(self.lab_json.read_text())
        self.config.write(made["accel"], made["box"], self.console_dir)

    def running(self) -> bool:
        states = self.status()
        return bool(states) and all(state == "running" for state in states.values())

    def require_running(self) -> None:
        if not self.running():
            shown = ", ".join(f"{n} {s}" for n, s in self.status().items()) or "not created"
            raise LabError(f"lab {self.config.name} is not running ({shown}): run 'ha-lab up' first")

    def accel(self) -> str:
        """The accelerator this lab was brought up with (kvm or tcg)."""
        if not self.exists():
            raise LabError(f"lab {self.config.name} has not been brought up: run 'ha-lab up' first")
        return str(json.loads(self.lab_json.read_text())["accel"])

    # --- bring-up --------------------------------------------------------
    def up(self, accel: str, restore: bool = True, keep: bool = True) -> Phases:
        """Bring the lab up, or finish bringing it up: every step is idempotent. A new lab whose
        provisioned state is kept on this host is restored from it (`restore`) instead of
        provisioned; a new lab that was provisioned is kept for the next one (`keep`); a running
        lab that stands on the kept state of today's recipe is used as it is (`bring_up_way`)."""
        phases = Phases()
        new = not self.exists()
        if new:
            host_network.check_free(self.config)
            preflight.check(self.config)
        self.logs.mkdir(parents=True, exist_ok=True)
        with phases.timed("guest image", self.progress):
            image = build_guest_image(progress=self.progress)
        with phases.timed("box", self.progress):
            box = ensure_box(self.logs / "box-build.log", self.progress)
        if box.built_s is not None:
            phases.seconds["box build (cold)"] = round(box.built_s, 1)
        self.files.console_dir.mkdir(parents=True, exist_ok=True)
        self.config.write(accel, box.name, self.console_dir)
        entry = provisioned.Entry(provisioned.recipe_key(self.lab_json, image))
        way = bring_up_way(new, restore, entry, self.provisioned(), not new and self.running())
        restored = way == "restore"
        if way == "reuse":
            # Provisioning again would change nothing (same recipe) and cost 424 s under TCG;
            # what a run broke the revert before each scenario repairs, or 'ha-lab provision'.
            self.progress(f"lab: running, provisioned as this code would ({entry.key}): not provisioned again")
            self.start_fencing()
        elif restored:
            with phases.timed("restore provisioned", self.progress):
                self.progress(f"lab: restoring the provisioned lab kept in {entry.folder}")
                phases.seconds |= {
                    f"restore: {k}": v
                    for k, v in provisioned.restore(self.state_dir, self.config, entry, self.progress).items()
                }
                self.start_fencing()
                self.step_clocks()
                self.resume_guest()
        else:
            provisioning.write_config(self.config, self.files, accel, box.name)
            with phases.timed("vagrant up", self.progress):
                self.machines.up(self.progress)
            if not self.files.known_hosts.exists():
                self.learn_host_keys()
            self.start_fencing()
            with phases.timed("provisioning", self.progress):
                provisioning.provision(self.config, self.files, self.remote, image, self.progress)
        with phases.timed("cluster settle", self.progress):
            for role in ("nas", "hv"):
                self.ssh(self.config.founder(role), f"sudo crm_resource --wait --timeout={SETTLE_TIMEOUT_S}s")
        with (
            phases.timed("guest first heartbeat", self.progress),
            Observer(self.config.host_ip, self.config.observer_port) as observer,
        ):
            first = observer.wait_for_heartbeat(FIRST_HEARTBEAT_TIMEOUT_S)
        # The guest's own uptime then tells a slow boot from a late start.
        phases.seconds["guest uptime at first heartbeat"] = round(first.hb.uptime_ns / 1e9, 1)
        if new and (restored or keep):
            if not restored:
                with phases.timed("keep provisioned", self.progress), self.guest_paused():
                    provisioned.keep(self.state_dir, self.config, entry, self.progress)
            # Only a lab made from the entry, or the entry made from it, shares its keys and may go back to it.
            self.provisioned_file.write_text(json.dumps({"key": entry.key, "folder": str(entry.folder)}))
        if way != "reuse":  # a reused lab's record stays that of its bring-up
            (self.state_dir / "bringup.json").write_text(json.dumps({"accel": accel, **phases.seconds}, indent=2))
        return phases

    @property
    def provisioned_file(self) -> Path:
        """Which kept provisioned state this lab stands on (none: the file is absent)."""
        return self.state_dir / "provisioned.json"

    def provisioned(self) -> provisioned.Entry | None:
        if not self.provisioned_file.exists():
            return None
        entry = provisioned.Entry(json.loads(self.provisioned_file.read_text())["key"])
        return entry if entry.complete else None

    def provision(self, image: GuestImage | None = None) -> None:
        """Provision a running lab again: lab.json and the clusters' files as this code makes them
        (a lab brought up by older code gets what changed since), keys and passwords kept."""
        image = image or build_guest_image(progress=self.progress)
        if not self.files.known_hosts.exists():  # a lab brought up before the keys were learnt
            self.learn_host_keys()
        box = str(json.loads(self.lab_json.read_text())["box"])
        provisioning.write_config(self.config, self.files, self.accel(), box)
        provisioning.provision(self.config, self.files, self.remote, image, self.progress)

    def learn_host_keys(self) -> None:
        """Each node's host keys, from its serial console (harness.lab.host_keys), into known_hosts
        under its name and lab address: the harness's SSH checks them from now on, and so does
        root's SSH between the vnodes (provisioning gives them the file)."""
        keys = {
            f"{node.name},{self.config.lab_ip(node.offset)}": host_keys.read_console(
                node.name, self.console_dir / f"{node.name}.log"
            )
            for node in self.config.nodes()
        }
        self.files.known_hosts.write_text(host_keys.known_hosts(keys))
        self.remote.forget_config()
        shown = ", ".join(f"{names.split(',')[0]} {k.fingerprint}" for names, ks in keys.items() for k in ks[:1])
        self.progress(f"lab: host keys learnt from the consoles ({shown})")

    def start_fencing(self) -> None:
        """The host's fence_virtd for each cluster (no systemd runs them): the clusters' fencing goes through them."""
        pids = fencing.ensure_running(self.config, self.secrets)
        shown = ", ".join(f"{role} pid {pid} on UDP {self.config.fence_ports[role]}" for role, pid in pids.items())
        self.progress(f"lab: fence_virtd listening ({shown}), logs {self.logs}/fence_virtd-*.log")

    # --- node access -----------------------------------------------------
    def ssh(
        self, node: str, command: str, log: str | None = None, stdin: bytes | None = None, timeout: float = TIMEOUT_S
    ) -> str:
        return self.remote.run(node, command, log=log, stdin=stdin, timeout=timeout)

    def ssh_bytes(self, node: str, command: str) -> bytes:
        return self.remote.run_bytes(node, command)

    def ssh_argv(self, node: str, command: str) -> list[str]:
        return self.remote.argv(node, command)

    def ssh_config(self) -> Path:
        return self.remote.config()

    def ssh_command(self) -> Path:
        return self.remote.command()

    def clock_offset_ns(self, node: str) -> int:
        return self.remote.clock_offset_ns(node)

    def host(self, node: str) -> Any:  # testinfra's Host
        return self.remote.host(node)

    # --- snapshots -------------------------------------------------------
    def snapshot(self, name: str) -> dict[str, float]:
        """A consistent cut of the running lab (harness.host.snapshots); the seconds each step took."""
        folder = snapshots.lab_folder(self.config) / snapshots.check_name(name)
        self._require_made()
        with self.guest_paused():
            return snapshots.take(self.config, folder, self.progress)

    @contextmanager
    def guest_paused(self) -> Iterator[None]:
        """The nested guest paused while the vnodes are saved, resumed after. QEMU 7.2 cannot
        restore a vCPU saved while it ran the nested guest under TCG ("vCPU set in guest-mode
        inconsistent with migrated kernel nested state"); with the guest paused no vCPU of a
        vnode is inside it. The same on KVM, where it costs a second: one path for both."""
        try:
            for node in self.config.nodes("hv"):
                self.ssh(node.name, SUSPEND_GUEST)
            yield
        finally:
            self.resume_guest()  # also when a suspend failed half way: never a guest left paused

    def resume_guest(self) -> None:
        """Resume the guest where it was paused for a snapshot (a snapshot keeps it paused)."""
        with ThreadPoolExecutor(max_workers=len(self.config.nodes("hv"))) as pool:
            list(pool.map(lambda node: self.ssh(node.name, RESUME_GUEST), self.config.nodes("hv")))

    def snapshots(self) -> list[snapshots.Snapshot]:
        self._require_made()
        return snapshots.listing(self.config)

    def delete_snapshot(self, name: str) -> None:
        snapshots.check_name(name)
        self._require_made()
        snapshots.delete(self.config, snapshots.find(self.config, name))

    def _require_made(self) -> None:
        if not self.exists():
            raise LabError(f"lab {self.config.name} has not been brought up: run 'ha-lab up' first")

    def revert(self, name: str) -> dict[str, float]:
        """The lab back at snapshot `name`, the nodes' clocks stepped to the host's; the seconds each
        step took. Whether the clusters and the guest are whole again is the caller's to check."""
        snapshots.check_name(name)
        self._require_made()
        return self.revert_to(snapshots.find(self.config, name))

    def revert_to_provisioned(self) -> dict[str, float]:
        """The lab back at the provisioned state it was brought up from (kept on this host)."""
        self._require_made()
        entry = self.provisioned()
        if entry is None:
            raise LabError(
                f"lab {self.config.name} stands on no kept provisioned state (it was brought up without "
                "keeping one, or the state was removed): 'ha-lab destroy' then 'ha-lab up' keeps one"
            )
        return self.revert_to(entry.snapshot())

    def revert_to(self, snap: snapshots.Snapshot) -> dict[str, float]:
        for node in self.config.nodes():
            # The nodes' side of any SSH connection made since the snapshot is gone: start afresh.
            self.remote.disconnect(node.name)
        timings = snapshots.revert(self.config, snap, self.progress)
        started = time.monotonic()
        self.step_clocks()
        timings["clocks"] = round(time.monotonic() - started, 2)
        started = time.monotonic()
        self.resume_guest()
        timings["resume guest"] = round(time.monotonic() - started, 2)
        self.down.clear()
        self.started_from = str(snap.folder)
        return timings

    def step_clocks(self) -> None:
        """Set each node's clock to the host's, and renew its DHCP lease. A restored node's clock
        reads the time of the snapshot; the nodes have no time server to catch up from, and the
        harness reads their journals against the host's clock."""

        def step(node: str) -> None:
            self.remote.wait_reachable(node, REACH_TIMEOUT_S)
            # The host's time is read as the command leaves: the error is one SSH round trip.
            self.ssh(node, f"sudo date -u -s @{time.time():.3f} >/dev/null && {RENEW_LEASE}")

        # Side by side: a new SSH connection costs a TCG node seconds (21-25 s for four, one by one).
        # The SSH config first, once: four `vagrant ssh-config` at a time lock each other out.
        self.ssh_config()
        with ThreadPoolExecutor(max_workers=len(self.config.nodes())) as pool:
            list(pool.map(step, [n.name for n in self.config.nodes()]))

    # --- tear-down -------------------------------------------------------
    def destroy(self, force: bool = False) -> list[str]:
        """Destroy the machines and sweep what libvirt still holds of this lab; a lab of this name
        made from another state folder is refused (nothing changed) unless forced."""
        if not force:
            host_network.refuse_foreign(self.config)
        stopped = [f"fence_virtd ({role})" for role in fencing.stop(self.state_dir)]
        if self.exists():
            if (self.state_dir / "ssh_config").exists():
                for node in self.config.nodes():
                    self.remote.disconnect(node.name)
            if not self.machines.destroy():
                self.progress("lab: vagrant destroy failed; sweeping libvirt directly")
        swept = host_network.sweep(self.config)
        if snapshots.lab_folder(self.config).exists():
            shutil.rmtree(snapshots.lab_folder(self.config))  # its frozen disks were the lab's
            swept.append(f"snapshots {snapshots.lab_folder(self.config)}")
        shutil.rmtree(self.remote.control_path(), ignore_errors=True)
        shutil.rmtree(self.state_dir, ignore_errors=True)
        shutil.rmtree(self.console_dir, ignore_errors=True)
        return stopped + swept
