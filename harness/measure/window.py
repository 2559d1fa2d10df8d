"""The measured window of a run: the quiet stretch before the strike, the strike, the settling, the tail.

While the window is open, watchers record both clusters and DRBD and the observer
records the guest; afterwards `collect` asks the clusters, DRBD, libvirt and the
disk image for their account. Moves, faults and controls all run through here.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from harness.cluster import hypervisor, placement
from harness.cluster.journal import ran_ops
from harness.cluster.placement import Placement
from harness.cluster.state import operations_from_cib
from harness.cluster.watch import Watch
from harness.config.facts import PATHS
from harness.config.timings import PROBE, TIMINGS
from harness.lab.handle import Lab
from harness.lab.ssh import LabError
from harness.measure.record import Action, RunRecord
from harness.measure.ticker import Ticker
from harness.probe.disk import WriteAfter
from harness.probe.observer import Observer
from harness.probe.records import Verification, verify_boots
from harness.probe.timeline import analyze, noise
from harness.waiting import NotYet, WaitTimeout, wait_for

TAIL_S = 5.0  # after the clusters are idle and the disk wrote again, to see the guest settle
CLOSE_WAIT_S = 5.0  # a guest silent this long at the window's end did not come back
DISK_RESUME_S = 180.0  # how long an idle lab may take to let the guest write again


def move_timeout_s(accel: str) -> int:
    """The slowest move: a group move plus a migration that waits out the storage."""
    timings = TIMINGS[accel]
    return 3 * timings.start_timeout_s + timings.migrate_timeout_s


def prepare(lab: Lab, observer: Observer, run: RunRecord, kind: str) -> Placement:
    """The lab idle and without leftovers, the guest's load set and its disk writing; where things are."""
    run.kind = kind
    timeout_s = move_timeout_s(run.accel)
    placement.wait_idle(lab, timeout_s)
    placement.remove_constraints(lab, placement.leftover_constraints(lab))
    run.before = placement.current(lab)
    observer.set_load(run.load_mibs)
    run.ack_before = wait_for_disk_progress(observer, timeout_s=120)
    return run.before


def record(
    lab: Lab,
    observer: Observer,
    run: RunRecord,
    label: str,
    act: Callable[[], None],
    progress: Callable[[str], None] = print,
    avoid: str | None = None,
) -> int:
    """Watch the clusters (crm_mon on a node of each, never `avoid`; DRBD on the NAS) and the guest while
    `act` runs and the clusters settle; fill the run's timeline. Returns the window's start on the host's clock."""
    clusters = {role: placement.control_node(lab, role, avoid) for role in ("hv", "nas")}
    run.clock_offsets_ms = {
        n.name: lab.clock_offset_ns(n.name) / 1e6 for n in lab.config.nodes() if n.name not in lab.down
    }
    nas_nodes = [n.name for n in lab.config.nodes("nas") if n.name not in lab.down]
    timings = TIMINGS[run.accel]
    with Watch(lab.ssh_argv, clusters, nas_nodes, timings.crm_mon_poll_s) as watch:
        watch.wait_ready()
        run.window_ns = time.time_ns()
        progress(f"  {run.scenario}: {timings.baseline_s:.0f} s of quiet first, the baseline a freeze is read against")
        time.sleep(timings.baseline_s)
        run.started_ns = observer.mark(label).host_ns
        try:
            with Ticker(run.scenario, watch, observer, progress):
                act()
            run.idle_ns = observer.mark("clusters idle").host_ns
            try:
                wait_for_disk_progress(observer, timeout_s=DISK_RESUME_S, after_ns=run.idle_ns)
            except WaitTimeout as err:
                # Judged by the "disk resumed" verdict, from the heartbeats; the run goes on to collect evidence.
                run.notes.append(str(err))
                progress(f"  {run.scenario}: {err}")
            time.sleep(TAIL_S)
        finally:
            run.ended_ns = close_window(observer)
            run.changes = watch.changes
            run.samples = [s for s in observer.samples if run.window_ns <= s.host_ns <= run.ended_ns]
            run.analysis = analyze(
                run.samples,
                interval_ms=PROBE.hb_ms,
                start_ns=run.window_ns,
                end_ns=run.ended_ns,
                markers=observer.markers,
            )
            run.baseline = noise(run.samples, run.window_ns, run.started_ns or run.ended_ns, PROBE.hb_ms)
    observer.check()  # a dead receiver or late stamps are the harness's failure, not the guest's
    return run.window_ns


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


def wait_for_disk_progress(observer: Observer, timeout_s: float, after_ns: int | None = None) -> int:
    """Until the probe acknowledges a record it issued after `after_ns` (default: now); return that
    record's number. The rule is the "disk resumed" verdict's (probe/disk.WriteAfter), followed live."""
    after = time.time_ns() if after_ns is None else after_ns
    try:
        observer.wait_for_heartbeat(timeout_s, after_ns=after)
    except TimeoutError as err:
        raise WaitTimeout(f"the guest acknowledged no disk write for {timeout_s:.0f} s: {err}") from err
    watch, seen, acked = WriteAfter(after), 0, 0

    def advanced() -> bool:
        nonlocal seen, acked
        batch = observer.samples_since(seen)
        seen += len(batch)
        for sample in batch:
            if watch.feed(sample):
                acked = sample.hb.last_ack
                return True
        raise NotYet(watch.where())

    wait_for("the guest acknowledging a disk write", timeout_s, advanced, every_s=0.1)
    return acked


def collect(lab: Lab, run: RunRecord, end: Placement, migrated_to: str | None) -> None:
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
            if op.interval_ms == 0 and started >= run.window_ns - 1_000_000_000:
                run.actions.append(
                    Action(op.resource, op.node, op.operation, op.rc, started, started + op.exec_ms * 1_000_000)
                )
        run.failures[role] = list(placement.cluster_state(lab, role).failures)
    run.actions.sort(key=lambda a: a.started_ns)
    run.node_ops = journal_ops(lab, run, [n.name for n in lab.config.nodes("nas") if n.name not in lab.down])
    run.leftovers = placement.leftover_constraints(lab)
    run.drbd_after = placement.drbd_states(lab)
    run.split_brain = split_brain_lines(lab)
    for vnode in (n.name for n in lab.config.nodes("hv") if n.name not in lab.down):
        conn = hypervisor.connect(lab.ssh_command(), vnode)
        try:
            run.guest_states[vnode] = hypervisor.guest_state(conn)
            if (run.guest_states[vnode] or "").startswith(("running", "paused")):
                # The ring the running guest really uses: a guest started before a change of lab.json keeps its own.
                run.ring = int(hypervisor.probe_settings(conn).get("ring", PROBE.ring))
            if vnode == migrated_to:
                run.migration = hypervisor.completed_job(conn)
        finally:
            conn.close()
    run.verifications = verify_records(lab, (run.after or end).nfs, run)


def journal_ops(lab: Lab, run: RunRecord, nodes: list[str]) -> list[Action]:
    """What each node's controller ran in the window, on the host's clock; a node that does not answer gives none."""
    since, until = run.window_ns // 1_000_000_000 - 1, (run.ended_ns or time.time_ns()) // 1_000_000_000 + 1
    ops: list[Action] = []
    for node in nodes:
        try:
            text = lab.ssh(
                node, f"sudo journalctl -u pacemaker -o short-unix --no-pager --since @{since} --until @{until}"
            )
        except LabError:
            continue
        offset_ns = int(run.clock_offsets_ms.get(node, 0.0) * 1e6)
        ops += [
            Action(op.resource, node, op.operation, 0 if op.ok else 1,
                   int(op.started_s * 1e9) - offset_ns, int(op.ended_s * 1e9) - offset_ns)
            for op in ran_ops(text)
        ]  # fmt: skip
    return sorted(ops, key=lambda a: a.started_ns)


def boot_ranges(run: RunRecord) -> list[tuple[str | None, int, int]]:
    """Per boot in the window, the records it acknowledged: (boot id, first, last).

    The boot the window opened with owns what it acknowledged from `ack_before` on; a later
    boot owns only what it wrote itself, after the older record it first reported.
    """
    disk = run.analysis.disk if run.analysis else None
    if disk is None:
        return []
    ranges: list[tuple[str | None, int, int]] = []
    for index, boot in enumerate(disk.boots):
        since = max(run.ack_before, 1) if index == 0 else boot.first_reported + 1
        ranges.append((boot.boot_id, since, boot.last_ack))
    return ranges


def verify_records(lab: Lab, nas: str, run: RunRecord) -> list[Verification]:
    """Every record each boot reported acknowledged is on the image, as the NFS server stores it, with its id."""
    ranges = boot_ranges(run)
    if not ranges:
        return []
    image = lab.ssh_bytes(nas, f"sudo head -c {run.ring * 4096} {PATHS.image_on_nas}")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / PATHS.image
        path.write_bytes(image)
        return verify_boots(path, ranges, ring=run.ring)


def split_brain_lines(lab: Lab) -> dict[str, list[str]]:
    """DRBD's kernel messages of a split brain, per NAS node (none is the only good answer)."""
    found = {}
    for node in (n.name for n in lab.config.nodes("nas") if n.name not in lab.down):
        lines = lab.ssh(node, "sudo dmesg | grep -i 'split-brain' || true").splitlines()
        found[node] = [line for line in lines if line.strip()]
    return found
