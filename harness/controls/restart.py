"""A restart: the guest's QEMU killed, and Pacemaker restarting it.

The restart must be seen (a new boot), and the records the old boot acknowledged are
judged against the old boot's id, so a restarted probe's records cannot stand in for them.
"""

from __future__ import annotations

from collections.abc import Callable

from harness import placement, window
from harness.budgets import Budget
from harness.controls.control import Control
from harness.controls.quiet import guest_pid_command, measure
from harness.expectations import Expectations
from harness.faults import wait_for_new_boot
from harness.lab import Lab
from harness.observer import Observer
from harness.run_record import RunRecord
from harness.verdicts import SAME_BOOT
from harness.window import move_timeout_s


def run(
    lab: Lab, observer: Observer, record: RunRecord, budget: Budget, progress: Callable[[str], None]
) -> Expectations:
    before = window.prepare(lab, observer, record, "control")
    old_boot = observer.samples[-1].hb.boot_id
    timeout_s = move_timeout_s(record.accel)

    def strike() -> None:
        progress(f"  control restart: the guest's QEMU on {before.guest} killed; Pacemaker restarts it")
        lab.ssh(before.guest, guest_pid_command("KILL"))
        wait_for_new_boot(observer, old_boot, timeout_s)
        placement.wait_idle(lab, timeout_s)

    try:
        measure(lab, observer, record, "guest's QEMU killed", strike, before, progress)
    finally:
        # The monitor's failure is the control's doing: later runs start clean.
        lab.ssh(placement.control_node(lab, "hv"), f"sudo crm_resource --cleanup --resource {placement.GUEST}")
    return Expectations(end=before, budget=budget)


CONTROL = Control(
    name="restart",
    what="a guest killed and restarted",
    catches=frozenset({SAME_BOOT}),
    run=run,
)
