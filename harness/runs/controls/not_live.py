"""Not live: the guest moved by stop and start (allow-migrate off) instead of a live migration."""

from __future__ import annotations

from harness.cluster import placement
from harness.cluster.placement import Placement
from harness.config.facts import RESOURCES
from harness.judging.verdicts import MIGRATED, SAME_BOOT
from harness.lab.handle import Lab
from harness.measure.expectations import Expectations
from harness.measure.window import move_timeout_s
from harness.runs.controls.control import Control, Setting


def allow_migrate(lab: Lab, value: str) -> None:
    node = placement.control_node(lab, "hv")
    meta = f"--meta --set-parameter allow-migrate --parameter-value {value}"
    lab.ssh(node, f"sudo crm_resource --resource {RESOURCES.guest} {meta}")


def run(s: Setting) -> Expectations:
    before = s.prepare()
    target = placement.other_node(s.lab, "hv", before.guest)
    end = Placement(target, before.nfs)
    timeout_s = move_timeout_s(s.record.accel)

    def strike() -> None:
        s.progress(f"  control not_live: the guest moved {before.guest} -> {target} by stop and start")
        s.record.commands = placement.move(s.lab, {"guest": target}, timeout_s)
        placement.wait_idle(s.lab, timeout_s)

    allow_migrate(s.lab, "false")
    try:
        s.measure("move requested (allow-migrate=false)", strike, end, migrated_to=target)
    finally:
        allow_migrate(s.lab, "true")
    return Expectations(end=end, budget=s.budget, migration=(before.guest, target))


CONTROL = Control("not_live", "a guest moved by stop and start", frozenset({SAME_BOOT, MIGRATED}), run)
