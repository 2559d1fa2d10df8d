"""Judge a run from its record and what its scenario expected: was it live, was nothing lost, is the
lab clean, did it stay within budget. Every check reads only the record, so every check can be fed a
made-up run that must fail it (tests/test_verdicts.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from harness.config.facts import RESOURCES
from harness.measure.expectations import Expectations
from harness.measure.record import RunRecord
from harness.probe.timeline import Analysis


@dataclass(frozen=True)
class Verdict:
    name: str
    ok: bool
    detail: str


# The names a control names when it says which verdict must catch its planted fault.
SAME_BOOT = "live: same boot"
RESTARTED = "restarted: a new boot"
UPTIME = "live: uptime continuous"
RESUMED = "live: heartbeats resumed"
ONE_GUEST = "heartbeats: one guest, in order"
PLACED = "placed: where expected"
RUNNING = "live: running, not paused"
MIGRATED = "live: migrated, not restarted"
LIBVIRT = "live: libvirt agrees"
DISK_RESUMED = "disk resumed"
RECORDS = "nothing lost: records"
NO_FAILED_WRITES = "nothing lost: no failed writes"
NO_FAILED_ACTIONS = "clean: no failed actions"
NO_LEFTOVERS = "clean: no leftover constraints"
DRBD_HEALTHY = "clean: DRBD UpToDate/UpToDate"
NO_SPLIT_BRAIN = "clean: no split brain"
FREEZE = "budget: freeze"
DISK_STALL = "budget: disk stall"
ORDER = "order: NFS stop after the switchover"
OUTAGE_RESUME = "outage: vCPUs running again soon after NFS serves"
PLANTED = "measured: the planted freeze"

Check = Callable[[RunRecord, Expectations, Analysis], Verdict | None]


def judge(run: RunRecord, expect: Expectations) -> list[Verdict]:
    """Every verdict that applies to this run, in a fixed order."""
    a = run.analysis
    if a is None:
        return [Verdict("measured", False, "the run ended before its heartbeats were analysed")]
    found = (check(run, expect, a) for check in CHECKS)
    return [v for v in found if v is not None]


def _boots(run: RunRecord, expect: Expectations, a: Analysis) -> Verdict:
    if expect.restarts == 0:
        return Verdict(SAME_BOOT, not a.boot_changes and len(a.boot_ids) == 1, f"boot ids seen: {a.boot_ids}")
    return Verdict(
        RESTARTED,
        len(a.boot_ids) == expect.restarts + 1,
        f"boot ids seen: {a.boot_ids}, {expect.restarts} restart expected (a guest whose vnode died cannot live on)",
    )


def _uptime(run: RunRecord, expect: Expectations, a: Analysis) -> Verdict:
    return Verdict(UPTIME, a.uptime_regressions == 0, f"{a.uptime_regressions} times the guest's uptime went backwards")


def _resumed(run: RunRecord, expect: Expectations, a: Analysis) -> Verdict:
    state = "still open" if not a.resumed else "closed"
    return Verdict(RESUMED, a.resumed and a.received > 0, f"{a.received} heartbeats; last freeze {state}")


def _one_guest(run: RunRecord, expect: Expectations, a: Analysis) -> Verdict:
    # One probe sends each number once, in order: a copy of a number is a second guest with the same boot
    # (a split brain of the hypervisors, or a replayed capture), a number out of order one that interleaves.
    return Verdict(
        ONE_GUEST,
        a.duplicates == 0 and a.reordered == 0,
        f"{a.duplicates} duplicate and {a.reordered} reordered heartbeats",
    )


def _placed(run: RunRecord, expect: Expectations, a: Analysis) -> Verdict:
    return Verdict(PLACED, run.after == expect.end, f"expected {expect.end}, the clusters report {run.after}")


def _running(run: RunRecord, expect: Expectations, a: Analysis) -> Verdict:
    where = expect.end.guest
    state = run.guest_states.get(where)
    return Verdict(
        RUNNING, state == "running", f"libvirt on {where}: {state} (error_policy=stop pauses it on a disk error)"
    )


def _migrated(run: RunRecord, expect: Expectations, a: Analysis) -> Verdict | None:
    if expect.migration is None:
        return None
    source, target = expect.migration
    ops = {(x.operation, x.node) for x in run.actions if x.resource == RESOURCES.guest and x.rc == 0}
    migrated = ("migrate_to", source) in ops and ("migrate_from", target) in ops
    restarted = ("start", target) in ops
    return Verdict(MIGRATED, migrated and not restarted, f"guest operations in the window: {sorted(ops)}")


def _libvirt(run: RunRecord, expect: Expectations, a: Analysis) -> Verdict | None:
    if expect.migration is None:
        return None
    source, target = expect.migration
    states = run.guest_states
    return Verdict(LIBVIRT, states.get(target) == "running" and states.get(source) != "running", f"libvirt: {states}")


def _disk_resumed(run: RunRecord, expect: Expectations, a: Analysis) -> Verdict:
    # With a hard NFS mount a disk that is gone blocks rather than fails: no error, heartbeats keep
    # coming. Only a record written and acknowledged after the clusters went idle shows the disk is back.
    at = run.disk_resumed_ns
    if at is None:
        waited = (run.ended_ns - run.idle_ns) / 1e9 if run.idle_ns else 0.0
        why = "the run ended before the clusters were idle" if not run.idle_ns else f"none in the {waited:.0f} s after"
        return Verdict(DISK_RESUMED, False, f"no record written and acknowledged after the clusters went idle: {why}")
    after_s = (at - run.idle_ns) / 1e9
    return Verdict(DISK_RESUMED, True, f"a record written after idle acknowledged {after_s:.1f} s after idle")


def _records(run: RunRecord, expect: Expectations, a: Analysis) -> Verdict:
    boots = [b.boot_id for b in a.disk.boots] if a.disk else []
    checked = {v.boot_id: v for v in run.verifications}
    unchecked = [b for b in boots if b not in checked]
    if not run.verifications or unchecked:
        return Verdict(RECORDS, False, f"not verified for boot(s) {unchecked or boots}")
    first = run.verifications[0]
    covers = first.first_checked <= max(run.ack_before, 1)
    ok = all(v.ok for v in run.verifications) and covers
    detail = "; ".join(v.summary() for v in run.verifications)
    return Verdict(RECORDS, ok, f"{detail} (acknowledged before the strike: {run.ack_before})")


def _failed_writes(run: RunRecord, expect: Expectations, a: Analysis) -> Verdict:
    errors = a.disk.errors if a.disk else None
    return Verdict(NO_FAILED_WRITES, errors == 0, f"{errors if errors is not None else 'no'} failed writes reported")


def _failed_actions(run: RunRecord, expect: Expectations, a: Analysis) -> Verdict:
    failures = [f for fs in run.failures.values() for f in fs]
    return Verdict(NO_FAILED_ACTIONS, not failures, f"{failures}")


def _leftovers(run: RunRecord, expect: Expectations, a: Analysis) -> Verdict:
    leftovers = [c.id for cs in run.leftovers.values() for c in cs]
    return Verdict(NO_LEFTOVERS, not leftovers, f"{leftovers}")


def _drbd(run: RunRecord, expect: Expectations, a: Analysis) -> Verdict:
    unhealthy = {n: s for n, s in run.drbd_after.items() if not s.healthy}
    return Verdict(DRBD_HEALTHY, len(run.drbd_after) == 2 and not unhealthy, f"{run.drbd_after}")


def _split_brain(run: RunRecord, expect: Expectations, a: Analysis) -> Verdict:
    splits = {node: lines for node, lines in run.split_brain.items() if lines}
    return Verdict(NO_SPLIT_BRAIN, not splits, f"{splits or 'no split-brain messages'}")


def _freeze(run: RunRecord, expect: Expectations, a: Analysis) -> Verdict | None:
    if not expect.freeze_budget:
        return None
    limit = expect.budget.freeze_ms
    return Verdict(
        FREEZE,
        a.largest_freeze_ms <= limit,
        f"largest freeze {a.largest_freeze_ms:.1f} ms, budget {limit:.0f} ms; " + noise_note(run),
    )


def noise_note(run: RunRecord) -> str:
    """The freeze beside the noise of the quiet stretch before the strike."""
    a, b = run.analysis, run.baseline
    if a is None or b is None or b.received < 2:
        return "no baseline"
    inside = a.largest_freeze_ms <= b.largest_freeze_ms
    return (
        f"baseline over {b.seconds:.0f} s: largest freeze {b.largest_freeze_ms:.1f} ms, "
        f"{b.gaps_over_100ms} gaps >= 100 ms, p99 gap {b.gap_p99_ms:.1f} ms; "
        + ("the freeze is inside that noise" if inside else "the freeze stands out of that noise")
    )


def _disk_stall(run: RunRecord, expect: Expectations, a: Analysis) -> Verdict:
    stall = a.disk.longest_without_ack_ms if a.disk else float("inf")
    limit = expect.budget.disk_stall_ms
    return Verdict(DISK_STALL, stall <= limit, f"disk stall {stall:.1f} ms, budget {limit:.0f} ms")


def nfs_outage(run: RunRecord, expect: Expectations) -> tuple[int | None, int | None]:
    """When the old server went away from its clients and when the new one served (the group's gate:
    stopped first, started last).

    Pacemaker's own operation times first (whole seconds, node clocks corrected); the watcher's
    crm_mon polls, seconds late on a loaded TCG node, only where the operations are missing.
    """
    gate = [x for x in run.actions if x.resource == RESOURCES.nfs_gate and x.rc == 0]
    old = run.before.nfs if run.before is not None else None
    closed = next((x.started_ns for x in gate if x.operation == "stop" and x.node == old), None)
    served = next((x.ended_ns for x in gate if x.operation == "start" and x.node == expect.end.nfs), None)
    for change in run.changes:
        if change.host_ns < run.started_ns or change.source != "nas" or change.key != RESOURCES.nfs_gate:
            continue
        if closed is None and old is not None and change.new != f"Started {old}":
            closed = change.host_ns
        if served is None and closed is not None and change.new == f"Started {expect.end.nfs}":
            served = change.host_ns
    return closed, served


def _order(run: RunRecord, expect: Expectations, a: Analysis) -> Verdict | None:
    """The NFS move was requested only once the guest ran again after the migration's switchover.

    The switchover is the largest freeze that began while the migration ran (from the guest's
    move command to the end of migrate_to): a TCG hiccup later in the run is no switchover. The
    request's time is the host's own, unlike Pacemaker's whole-second operation times.
    """
    if not expect.nfs_stop_after_switchover:
        return None
    requested = next((c.started_ns for c in run.commands if f"--resource {RESOURCES.nfs} " in c.command), None)
    guest_move = next((c for c in run.commands if f"--resource {RESOURCES.guest} " in c.command), None)
    migrated = [x.ended_ns for x in run.actions if x.resource == RESOURCES.guest and x.operation == "migrate_to"]
    if guest_move is None:
        return Verdict(ORDER, False, "no migration command in the run")
    until = max(migrated) if migrated else guest_move.ended_ns
    during = [w for w in a.freezes if guest_move.started_ns <= w.start_ns <= until]
    switchover = max(during, key=lambda w: w.gap_ms, default=None)
    resumed = switchover.end_ns if switchover is not None else None
    ok = requested is not None and resumed is not None and requested >= resumed
    shown = f"{switchover.freeze_ms:.0f} ms" if switchover is not None else "none seen"
    return Verdict(
        ORDER,
        ok,
        f"the guest ran again after the switchover (the largest freeze during the migration, {shown}) "
        f"{_at(resumed, run)}, the NFS move was requested {_at(requested, run)}",
    )


def _outage_resume(run: RunRecord, expect: Expectations, a: Analysis) -> Verdict | None:
    if expect.resume_after_served_s is None:
        return None
    closed, served = nfs_outage(run, expect)
    longest = max(a.freezes, key=lambda w: w.gap_ms, default=None)
    if served is None or longest is None or longest.end_ns is None:
        return Verdict(OUTAGE_RESUME, False, f"NFS served again {_at(served, run)}; the longest freeze {longest}")
    inside = closed is not None and closed <= longest.start_ns <= served
    late_s = (longest.end_ns - served) / 1e9
    return Verdict(
        OUTAGE_RESUME,
        inside and late_s <= expect.resume_after_served_s,
        f"the guest stopped {_at(longest.start_ns, run)} ({'inside' if inside else 'outside'} the NFS outage "
        f"{_at(closed, run)}..{_at(served, run)}: the source's flush waits on the dead mount) and ran again "
        f"{late_s:.1f} s after NFS served (at most {expect.resume_after_served_s:.0f} s)",
    )


def _planted(run: RunRecord, expect: Expectations, a: Analysis) -> Verdict | None:
    if expect.planted_freeze_ms is None:
        return None
    noise = run.baseline.largest_gap_ms if run.baseline else 0.0
    error = max(noise, 10 * a.interval_ms)  # the calibrated error: the quiet stretch's own worst gap
    off = a.largest_freeze_ms - expect.planted_freeze_ms
    return Verdict(
        PLANTED,
        abs(off) <= error,
        f"planted {expect.planted_freeze_ms:.0f} ms, measured {a.largest_freeze_ms:.1f} ms "
        f"({off:+.1f} ms, allowed ±{error:.0f} ms: the baseline's largest gap)",
    )


def _at(ns: int | None, run: RunRecord) -> str:
    return "never" if ns is None else f"at +{(ns - run.started_ns) / 1e9:.1f} s"


CHECKS: tuple[Check, ...] = (
    _boots,
    _uptime,
    _resumed,
    _one_guest,
    _placed,
    _running,
    _migrated,
    _libvirt,
    _disk_resumed,
    _records,
    _failed_writes,
    _failed_actions,
    _leftovers,
    _drbd,
    _split_brain,
    _freeze,
    _disk_stall,
    _order,
    _outage_resume,
    _planted,
)
