"""Judge a move run: was it live, was nothing lost, is the lab clean, did it stay within budget."""

from __future__ import annotations

from dataclasses import dataclass

from harness.budgets import Budget
from harness.faults import Fault
from harness.moves import MoveRun, Scenario


@dataclass(frozen=True)
class Verdict:
    name: str
    ok: bool
    detail: str


def judge(run: MoveRun, scenario: Scenario, budget: Budget) -> list[Verdict]:
    a = run.analysis
    if a is None:
        return [Verdict("measured", False, "the run ended before its heartbeats were analysed")]
    verdicts = [
        Verdict("live: same boot", not a.boot_changes and len(a.boot_ids) == 1,
                f"boot ids seen: {a.boot_ids}"),
        Verdict("live: uptime continuous", a.uptime_regressions == 0,
                f"{a.uptime_regressions} times the guest's uptime went backwards"),
        Verdict("live: heartbeats resumed", a.resumed and a.received > 0,
                f"{a.received} heartbeats; last freeze {'still open' if not a.resumed else 'closed'}"),
        Verdict("live: on the target", run.after == scenario.end,
                f"asked for {scenario.end}, the clusters report {run.after}"),
    ]  # fmt: skip
    where = scenario.end.guest
    verdicts.append(
        Verdict("live: running, not paused", run.guest_states.get(where) == "running",
                f"libvirt on {where}: {run.guest_states.get(where)} (error_policy=stop pauses it on a disk error)")
    )  # fmt: skip
    if "guest" in scenario.moves:
        source, target = scenario.start.guest, scenario.end.guest
        ops = {(x.operation, x.node) for x in run.actions if x.resource == "guest" and x.rc == 0}
        migrated = ("migrate_to", source) in ops and ("migrate_from", target) in ops
        restarted = ("start", target) in ops
        verdicts.append(
            Verdict(
                "live: migrated, not restarted",
                migrated and not restarted,
                f"guest operations in the window: {sorted(ops)}",
            )
        )
        states = run.guest_states
        verdicts.append(
            Verdict(
                "live: libvirt agrees",
                states.get(target) == "running" and states.get(source) != "running",
                f"libvirt: {states}",
            )
        )
    return verdicts + _lossless_clean_in_budget(run, budget)


def _lossless_clean_in_budget(run: MoveRun, budget: Budget) -> list[Verdict]:
    """Nothing lost, the lab clean afterwards, the guest's costs within budget: every run's verdicts."""
    a, v = run.analysis, run.verification
    assert a is not None
    disk = a.disk
    verdicts: list[Verdict] = []
    verdicts.append(
        Verdict(
            "nothing lost: records",
            v is not None and v.ok and v.first_checked <= max(run.ack_before, 1),
            f"{v.summary()} (acknowledged before the move: {run.ack_before})" if v else "not verified",
        )
    )
    verdicts.append(
        Verdict(
            "nothing lost: no failed writes",
            disk is not None and disk.errors == 0,
            f"{disk.errors if disk else 'no'} failed writes reported by the guest",
        )
    )
    failures = [f for fs in run.failures.values() for f in fs]
    verdicts.append(Verdict("clean: no failed actions", not failures, f"{failures}"))
    leftovers = [c.id for cs in run.leftovers.values() for c in cs]
    verdicts.append(Verdict("clean: no leftover constraints", not leftovers, f"{leftovers}"))
    unhealthy = {n: s for n, s in run.drbd_after.items() if not s.healthy}
    verdicts.append(
        Verdict("clean: DRBD UpToDate/UpToDate", len(run.drbd_after) == 2 and not unhealthy, f"{run.drbd_after}")
    )
    verdicts.append(
        Verdict(
            "budget: freeze",
            a.largest_freeze_ms <= budget.freeze_ms,
            f"largest freeze {a.largest_freeze_ms:.1f} ms, budget {budget.freeze_ms:.0f} ms",
        )
    )
    stall = disk.longest_without_ack_ms if disk else float("inf")
    verdicts.append(
        Verdict(
            "budget: disk stall",
            stall <= budget.disk_stall_ms,
            f"disk stall {stall:.1f} ms, budget {budget.disk_stall_ms:.0f} ms",
        )
    )
    return verdicts


def judge_fault(run: MoveRun, fault: Fault, scenario: Scenario, budget: Budget) -> list[Verdict]:
    """A fault's verdicts: the guest lived (or, after its vnode died, was restarted once, honestly
    reported), the service is where the survivor is, nothing was lost, the lab was whole again."""
    a = run.analysis
    if a is None:
        return [Verdict("measured", False, "the run ended before its heartbeats were analysed")]
    if fault.guest_survives:
        verdicts = [
            Verdict("live: same boot", not a.boot_changes and len(a.boot_ids) == 1, f"boot ids seen: {a.boot_ids}"),
            Verdict("live: uptime continuous", a.uptime_regressions == 0,
                    f"{a.uptime_regressions} times the guest's uptime went backwards"),
        ]  # fmt: skip
    else:
        verdicts = [
            Verdict("restarted: a new boot", len(a.boot_ids) == 2,
                    f"boot ids seen: {a.boot_ids} (a guest whose vnode died cannot live on)"),
        ]  # fmt: skip
    verdicts.append(
        Verdict("live: heartbeats resumed", a.resumed and a.received > 0,
                f"{a.received} heartbeats; last freeze {'still open' if not a.resumed else 'closed'}")
    )  # fmt: skip
    verdicts.append(
        Verdict("recovered: where the survivors are", run.after == scenario.end,
                f"expected {scenario.end}, the clusters report {run.after}")
    )  # fmt: skip
    where = scenario.end.guest
    verdicts.append(
        Verdict("live: running, not paused", run.guest_states.get(where) == "running",
                f"libvirt on {where}: {run.guest_states.get(where)}")
    )  # fmt: skip
    if fault.name == "migrate_in_grace":
        ops = {(x.operation, x.node) for x in run.actions if x.resource == "guest" and x.rc == 0}
        migrated = ("migrate_to", scenario.start.guest) in ops and ("migrate_from", where) in ops
        verdicts.append(
            Verdict("live: migrated, not restarted", migrated and ("start", where) not in ops, f"{sorted(ops)}")
        )
    splits = {node: lines for node, lines in run.split_brain.items() if lines}
    verdicts.append(Verdict("clean: no split brain", not splits, f"{splits or 'no split-brain messages'}"))
    return verdicts + _lossless_clean_in_budget(run, budget)
