"""Any fault, measured the same way: strike, recover, repair, all inside the window (`window.record`).

Each fault starts from wherever the lab is (a NAS move costs minutes on TCG; a fault
needs no particular start). The guest is judged through the repair too: the struck
node rejoining is part of what the fault costs.
"""

from __future__ import annotations

from collections.abc import Callable

from harness import placement, window
from harness.budgets import Budget
from harness.expectations import Expectations
from harness.faults.fault import Fault, Strike
from harness.lab import Lab
from harness.moves import move_timeout_s
from harness.observer import Observer
from harness.placement import other_node
from harness.run_record import RunRecord


def run_fault(
    lab: Lab,
    observer: Observer,
    fault: Fault,
    run: RunRecord,
    budget: Budget,
    progress: Callable[[str], None] = print,
) -> Expectations:
    """Strike, recover, repair, measure; fill `run` as it goes. Returns what the run must show."""
    timeout_s = move_timeout_s(run.accel)
    run.kind = "fault"
    placement.wait_idle(lab, timeout_s)
    placement.remove_constraints(lab, placement.leftover_constraints(lab))
    before = placement.current(lab)
    victim, expected = fault.plan(lab, before)
    run.before = before
    observer.set_load(run.load_mibs)
    run.ack_before = window.wait_for_disk_progress(observer, timeout_s=120)
    clusters = {role: placement.control_node(lab, role) for role in ("hv", "nas")}
    if victim is not None:
        clusters[fault.role] = other_node(lab, fault.role, victim)
    strike = Strike(lab, observer, run, before, victim, expected, timeout_s, progress, observer.samples[-1].hb.boot_id)

    def act() -> None:
        progress(f"  {fault.name}: {fault.what}; {before} -> {expected}")
        fault.strike(strike)

    try:
        window.record(lab, observer, run, clusters, f"{fault.name} struck", act, progress)
        window.collect(lab, run, expected, expected.guest if fault.migrates else None)
        run.events = fault.events(run, strike) | run.events
    finally:
        for undo in reversed(strike.undo):  # a strike that failed half-way: mend, power on
            undo()
    return Expectations(
        end=expected,
        budget=budget,
        restarts=0 if fault.guest_survives else 1,
        migration=(before.guest, expected.guest) if fault.migrates else None,
    )
