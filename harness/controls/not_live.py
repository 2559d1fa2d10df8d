"""Not live: the guest moved by stop and start (allow-migrate off) instead of a live migration."""

from __future__ import annotations

from collections.abc import Callable

from harness import placement, window
from harness.budgets import Budget
from harness.controls.control import Control
from harness.controls.quiet import measure
from harness.expectations import Expectations
from harness.lab import Lab
from harness.observer import Observer
from harness.placement import Placement
from harness.run_record import RunRecord
from harness.verdicts import MIGRATED, SAME_BOOT
from harness.window import move_timeout_s


def allow_migrate(lab: Lab, value: str) -> None:
    node = placement.control_node(lab, "hv")
    meta = f"--meta --set-parameter allow-migrate --parameter-value {value}"
    lab.ssh(node, f"sudo crm_resource --resource {placement.GUEST} {meta}")


def run(
    lab: Lab, observer: Observer, record: RunRecord, budget: Budget, progress: Callable[[str], None]
) -> Expectations:
    before = window.prepare(lab, observer, record, "control")
    target = placement.other_node(lab, "hv", before.guest)
    end = Placement(target, before.nfs)
    timeout_s = move_timeout_s(record.accel)

    def strike() -> None:
        progress(f"  control not_live: the guest moved {before.guest} -> {target} by stop and start")
        record.commands = placement.move(lab, {"guest": target}, timeout_s)
        placement.wait_idle(lab, timeout_s)

    allow_migrate(lab, "false")
    try:
        measure(lab, observer, record, "move requested (allow-migrate=false)", strike, end, progress, target)
    finally:
        allow_migrate(lab, "true")
    return Expectations(end=end, budget=budget, migration=(before.guest, target))


CONTROL = Control(
    name="not_live",
    what="a guest moved by stop and start",
    catches=frozenset({SAME_BOOT, MIGRATED}),
    run=run,
)
