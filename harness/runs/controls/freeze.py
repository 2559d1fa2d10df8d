"""A freeze: the guest's QEMU stopped (SIGSTOP) for a known time, in an otherwise quiet window.

The measured freeze must match the planted pause within the baseline's noise, and the
freeze budget must fail, the pause being longer than the budget.
"""

from __future__ import annotations

from harness.config.facts import LIBVIRT
from harness.judging.verdicts import FREEZE, PLANTED
from harness.measure.expectations import Expectations
from harness.runs.controls.control import Control, Setting

OVER_BUDGET_MS = 3000  # the pause exceeds the freeze budget by this much


def pause_command(seconds: float) -> str:
    # One shell on the vnode, so the pause is timed there, not across SSH or sudo.
    return f"sudo sh -c 'pid=$(cat {LIBVIRT.pid_file}) && kill -STOP $pid && sleep {seconds:.3f}; kill -CONT $pid'"


def run(s: Setting) -> Expectations:
    before = s.prepare()
    pause_ms = s.budget.freeze_ms + OVER_BUDGET_MS
    s.record.events["planted_pause_ms"] = pause_ms

    def strike() -> None:
        s.progress(f"  control freeze: the guest's QEMU on {before.guest} stopped for {pause_ms:.0f} ms")
        s.lab.ssh(before.guest, pause_command(pause_ms / 1000))

    s.measure("guest stopped (SIGSTOP)", strike, before)
    return Expectations(end=before, budget=s.budget, planted_freeze_ms=pause_ms)


CONTROL = Control(
    "freeze", "the guest's QEMU stopped longer than the freeze budget", frozenset({FREEZE}), run, frozenset({PLANTED})
)
