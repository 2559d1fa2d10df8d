"""A node powered off hard, the survivor taking over, the node powered on again: inside the window."""

from __future__ import annotations

from harness.faults.fault import Strike
from harness.faults.power import power_off
from harness.faults.recovery import repair, serves, wait_for_new_boot
from harness.waiting import wait_for


def crash_and_repair(s: Strike, role: str, survivor: str, guest_restarts: bool) -> None:
    assert s.victim is not None
    power_off(s.lab, s.victim)
    s.undo.append(lambda: repair(s, role))
    wait_for(f"{role} service back on {survivor}", s.timeout_s, lambda: serves(s.lab, role, survivor))
    s.lab.ssh(survivor, f"sudo crm_resource --wait --timeout={s.timeout_s}s")
    if guest_restarts:
        wait_for_new_boot(s.observer, s.old_boot, s.timeout_s)
    s.observer.mark("recovered")
    repair(s, role)
    s.undo.clear()
    s.observer.mark("lab whole again")
