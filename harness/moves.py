"""The three moves of the seed, run and measured: hypervisor_move, nas_move, both_move.

A run puts the lab in the scenario's starting placement (unmeasured), sets
the guest's memory load, then triggers the move the operator's way while the
observer records heartbeats and the watchers record both clusters and DRBD.
Everything it finds is returned in a `MoveRun`; judging it is the caller's.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import hypervisor, placement
from harness.cluster import Failure, Location, operations_from_cib
from harness.drbd import DrbdState
from harness.lab import Lab, LabError
from harness.lab_config import PROBE, TIMINGS
from harness.observer import Observer, Sample
from harness.placement import Command, Placement
from harness.records import Verification, verify
from harness.timeline import Analysis, analyze
from harness.watch import Change, Watch

IMAGE_ON_NAS = "/srv/nfs/export/guest/disk.img"  # the guest's disk, seen on the NFS server's own filesystem
BASELINE_S = 3.0  # heartbeats recorded before the move, to compare with
TAIL_S = 5.0  # and after the clusters are idle, to see the guest settle
CLOSE_WAIT_S = 5.0  # a guest silent this long at the window's end did not come back
DISK_RESUME_S = 180.0  # how long an idle lab may take to let the guest write again


@dataclass(frozen=True)
class Scenario:
    name: str
    start: Placement
    end: Placement

    @property
    def moves(self) -> dict[str, str]:
        wanted = {"guest": self.end.guest, "nfs": self.end.nfs}
        return {what: target for what, target in wanted.items() if getattr(self.start, what) != target}


# The seed's cycle: vnode2+nas2 -> vnode3+nas2 -> vnode3+nas1 -> vnode2+nas2.
SCENARIOS = {
    s.name: s
    for s in (
        Scenario("hypervisor_move", Placement("vnode2", "nas2"), Placement("vnode3", "nas2")),
        Scenario("nas_move", Placement("vnode3", "nas2"), Placement("vnode3", "nas1")),
        Scenario("both_move", Placement("vnode3", "nas1"), Placement("vnode2", "nas2")),
    )
}


@dataclass(frozen=True)
class Action:
    """A Pacemaker operation that finished during the run, on the host's clock."""

    resource: str
    node: str
    operation: str
    rc: int
    started_ns: int
    ended_ns: int


@dataclass
class MoveRun:
    scenario: str
    load_mibs: int
    accel: str
    before: Placement | None  # a fault starts wherever the lab is: set when it strikes
    after: Placement | None = None
    started_ns: int = 0  # the move was requested
    idle_ns: int = 0  # both clusters had nothing left to do
    ended_ns: int = 0
    ack_before: int = 0
    commands: list[Command] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)
    analysis: Analysis | None = None
    changes: list[Change] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)
    migration: dict[str, Any] | None = None  # libvirt's completed-job statistics on the destination
    guest_states: dict[str, str | None] = field(default_factory=dict)
    failures: dict[str, list[Failure]] = field(default_factory=dict)
    leftovers: dict[str, list[Location]] = field(default_factory=dict)
    drbd_after: dict[str, DrbdState] = field(default_factory=dict)
    verification: Verification | None = None
    clock_offsets_ms: dict[str, float] = field(default_factory=dict)
    ring: int = PROBE.ring  # the probe's record ring, as the running guest was started with
    # Fault runs only: seconds from the strike to each recovery step, split-brain messages.
    events: dict[str, float | None] = field(default_factory=dict)
    split_brain: dict[str, list[str]] = field(default_factory=dict)

    def figures(self) -> dict[str, float | int | str | None]:
        """The headline numbers, flat: what a summary table and JUnit properties show."""
        a, m = self.analysis, self.migration or {}
        return {
            "largest_freeze_ms": round(a.largest_freeze_ms, 1) if a else None,
            "freezes": len(a.freezes) if a else None,
            "lost_heartbeats": a.lost if a else None,
            "guest_minus_host_ms": round(a.guest_minus_host_ms, 1) if a and a.guest_minus_host_ms is not None else None,
            "disk_stall_ms": round(a.disk.longest_without_ack_ms, 1) if a and a.disk else None,
            "max_write_latency_ms": round(a.disk.max_write_latency_ms, 1) if a and a.disk else None,
            "move_s": round((self.idle_ns - self.started_ns) / 1e9, 1) if self.idle_ns else None,
            **libvirt_figures(m),
            "records_checked": self.verification.checked if self.verification else None,
            "records_missing": len(self.verification.missing) + len(self.verification.bad_crc)
            if self.verification
            else None,
            **self.events,
        }


def libvirt_figures(job: dict[str, int]) -> dict[str, float | int | None]:
    """The figures of libvirt's completed migration job (an empty dict: no migration)."""
    return {
        "libvirt_downtime_ms": job.get("downtime"),
        "libvirt_downtime_net_ms": job.get("downtime_net"),
        "libvirt_total_ms": job.get("time_elapsed"),
        # data_total is the guest's RAM; data_processed is what crossed the wire.
        "libvirt_data_mib": round(job["data_processed"] / 2**20, 1) if "data_processed" in job else None,
        "libvirt_passes": job.get("memory_iteration"),
        "libvirt_mibs": round(job["memory_bps"] / 2**20, 1) if "memory_bps" in job else None,
    }


def run_move(
    lab: Lab,
    observer: Observer,
    scenario: Scenario,
    run: MoveRun,
    progress: Callable[[str], None] = print,
) -> MoveRun:
    """Fill `run` as the move goes, so that a run that fails half-way still reports what it saw."""
    timings = TIMINGS[run.accel]
    # both_move's migration waits out the NAS move: the slowest move is a group move plus a migration.
    timeout_s = 3 * timings.start_timeout_s + timings.migrate_timeout_s
    placement.reach(lab, scenario.start, timeout_s, progress)
    observer.set_load(run.load_mibs)
    run.ack_before = wait_for_disk_progress(observer, timeout_s=120)
    clusters = {role: placement.control_node(lab, role) for role in ("hv", "nas")}

    def move() -> None:
        progress(f"  {scenario.name}: {scenario.start} -> {scenario.end}, load {run.load_mibs} MiB/s")
        run.commands = placement.move(lab, scenario.moves, timeout_s)
        observer.mark("move commands returned")
        placement.wait_idle(lab, timeout_s)

    window_ns = record(lab, observer, run, clusters, "move requested", move, progress)
    collect(lab, run, scenario, window_ns)
    return run


def record(
    lab: Lab,
    observer: Observer,
    run: MoveRun,
    clusters: dict[str, str],
    label: str,
    act: Callable[[], None],
    progress: Callable[[str], None] = print,
) -> int:
    """Watch the clusters (crm_mon on `clusters`' nodes, DRBD on the NAS) and the guest while `act` runs
    and the clusters settle; fill the run's timeline. Returns the window's start on the host's clock."""
    run.clock_offsets_ms = {
        n.name: lab.clock_offset_ns(n.name) / 1e6 for n in lab.config.nodes() if n.name not in lab.down
    }
    nas_nodes = [n.name for n in lab.config.nodes("nas") if n.name not in lab.down]
    with Watch(lab.ssh_argv, clusters, nas_nodes, TIMINGS[run.accel].crm_mon_poll_s) as watch:
        watch.wait_ready()
        window_ns = time.time_ns()
        time.sleep(BASELINE_S)
        run.started_ns = observer.mark(label).host_ns
        try:
            act()
            run.idle_ns = observer.mark("clusters idle").host_ns
            try:
                wait_for_disk_progress(observer, timeout_s=DISK_RESUME_S, after_ns=run.idle_ns)
            except LabError as err:
                progress(f"  {run.scenario}: {err}")  # judged from the timeline: an open disk stall
            time.sleep(TAIL_S)
        finally:
            run.ended_ns = close_window(observer)
            run.changes = watch.changes
            run.samples = [s for s in observer.samples if window_ns <= s.host_ns <= run.ended_ns]
            run.analysis = analyze(run.samples, interval_ms=PROBE.hb_ms, end_ns=run.ended_ns, markers=observer.markers)
    return window_ns


def close_window(observer: Observer, wait_s: float = CLOSE_WAIT_S) -> int:
    """The window's end: the first heartbeat from now on, or `wait_s` from now if none comes.

    Ending on an arrival keeps an ordinary gap between heartbeats (tens of ms on a loaded
    TCG host) from being judged a freeze the guest never came back from.
    """
    now = time.time_ns()
    try:
        return observer.wait_for_heartbeat(wait_s, after_ns=now).host_ns
    except TimeoutError:
        return time.time_ns()


def wait_for_disk_progress(observer: Observer, timeout_s: float, after_ns: int = 0) -> int:
    """Until the probe acknowledges a record it wrote after `after_ns`; return that record's number.

    A probe that just started reports 0 while it scans its ring, then the
    newest record already on disk: only an advance past a non-zero value is a
    write of this boot.
    """
    first = observer.wait_for_heartbeat(timeout_s, after_ns=after_ns or time.time_ns())
    base = first.hb.last_ack or None
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        ack = observer.samples[-1].hb.last_ack
        if base is None:
            base = ack or None
        elif ack > base:
            return ack
        time.sleep(0.1)
    raise LabError(f"the guest acknowledged no disk write for {timeout_s:.0f} s (stuck at {base})")


def collect(lab: Lab, run: MoveRun, scenario: Scenario, window_ns: int) -> None:
    """The clusters', DRBD's and libvirt's account of the run, and the disk's records."""
    try:
        run.after = placement.current(lab)
    except LabError:
        run.after = None
    for role in ("hv", "nas"):
        node = placement.control_node(lab, role)
        for op in operations_from_cib(lab.ssh(node, "sudo cibadmin --query -o status")):
            offset_ns = int(run.clock_offsets_ms.get(op.node, 0.0) * 1e6)
            started = op.changed_s * 1_000_000_000 - offset_ns
            # last-rc-change has whole seconds: keep what ran in the window, give or take one.
            if op.interval_ms == 0 and started >= window_ns - 1_000_000_000:
                run.actions.append(
                    Action(op.resource, op.node, op.operation, op.rc, started, started + op.exec_ms * 1_000_000)
                )
        run.failures[role] = list(placement.cluster_state(lab, role).failures)
    run.actions.sort(key=lambda a: a.started_ns)
    run.leftovers = placement.leftover_constraints(lab)
    run.drbd_after = placement.drbd_states(lab)
    for vnode in (n.name for n in lab.config.nodes("hv") if n.name not in lab.down):
        conn = hypervisor.connect(lab.ssh_config(), vnode)
        try:
            run.guest_states[vnode] = hypervisor.guest_state(conn)
            if (run.guest_states[vnode] or "").startswith(("running", "paused")):
                # The ring the running guest really uses: a guest started before a change of lab.json keeps its own.
                run.ring = int(hypervisor.probe_settings(conn).get("ring", PROBE.ring))
            if "guest" in scenario.moves and vnode == scenario.end.guest:
                run.migration = hypervisor.completed_job(conn)
        finally:
            conn.close()
    run.verification = verify_records(lab, (run.after or scenario.end).nfs, run)


def verify_records(lab: Lab, nas: str, run: MoveRun) -> Verification:
    """Every record the guest reported acknowledged is on the image, as the NFS server stores it."""
    assert run.analysis is not None and run.analysis.disk is not None, "no disk figures in the heartbeats"
    image = lab.ssh_bytes(nas, f"sudo head -c {run.ring * 4096} {IMAGE_ON_NAS}")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "disk.img"
        path.write_bytes(image)
        # From the newest record acknowledged before the move: older ones may predate this ring's layout.
        return verify(path, upto=run.analysis.disk.last_ack, ring=run.ring, since=max(run.ack_before, 1))
