"""A freeze: the guest's QEMU stopped (SIGSTOP) for a known time, in an otherwise quiet window.

The measured freeze must match the planted pause within the baseline's noise, and the
freeze budget must fail, the pause being longer than the budget.
"""

from __future__ import annotations

from collections.abc import Callable

from harness import window
from harness.budgets import Budget
from harness.controls.control import Control
from harness.controls.quiet import PID_FILE, measure
from harness.expectations import Expectations
from harness.lab import Lab
from harness.observer import Observer
from harness.run_record import RunRecord
from harness.verdicts import FREEZE, PLANTED

OVER_BUDGET_MS = 3000  # the pause exceeds the freeze budget by this much


def pause_command(seconds: float) -> str:
    return f"sudo sh -c 'pid=$(cat {PID_FILE}) && kill -STOP $pid && sleep {seconds:.3f}; kill -CONT $pid'"


def run(
    lab: Lab, observer: Observer, record: RunRecord, budget: Budget, progress: Callable[[str], None]
) -> Expectations:
    before = window.prepare(lab, observer, record, "control")
    pause_ms = budget.freeze_ms + OVER_BUDGET_MS
    record.events["planted_pause_ms"] = pause_ms

    def strike() -> None:
        progress(f"  control freeze: the guest's QEMU on {before.guest} stopped for {pause_ms:.0f} ms")
        # One shell on the vnode, so the pause is timed there, not across SSH or sudo.
        lab.ssh(before.guest, pause_command(pause_ms / 1000))

    measure(lab, observer, record, "guest stopped (SIGSTOP)", strike, before, progress)
    return Expectations(end=before, budget=budget, planted_freeze_ms=pause_ms)


CONTROL = Control(
    name="freeze",
    what="the guest's QEMU stopped longer than the freeze budget",
    catches=frozenset({FREEZE}),
    must_pass=frozenset({PLANTED}),
    run=run,
)
