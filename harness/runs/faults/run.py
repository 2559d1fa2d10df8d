"""Any fault, measured the same way: strike, recover, repair, all inside the window (`window.record`).

Each fault starts from wherever the lab is (a NAS move costs minutes on TCG; a fault
needs no particular start). The guest is judged through the repair too: the struck
node rejoining is part of what the fault costs.
"""

from __future__ import annotations

from collections.abc import Callable

from harness.cluster.placement import Placement
from harness.config.budgets import Budget
from harness.lab.handle import Lab
from harness.measure import window
from harness.measure.expectations import Expectations
from harness.measure.record import RunRecord
from harness.measure.window import move_timeout_s
from harness.probe.observer import Observer
from harness.runs.faults.fault import Fault, Strike


def run_fault(
    lab: Lab,
    observer: Observer,
    fault: Fault,
    run: RunRecord,
    budget: Budget,
    progress: Callable[[str], None] = print,
    plant: Callable[[Placement], None] | None = None,
) -> Expectations:
    """Strike, recover, repair, measure; fill `run` as it goes. Returns what the run must show.

    `plant` changes the lab where it stands just before the window opens (a control's doing).
    """
    timeout_s = move_timeout_s(run.accel)
    before = window.prepare(lab, observer, run, "fault" if plant is None else "control")
    victim, expected = fault.plan(lab, before)
    if plant is not None:
        plant(before)
    strike = Strike(lab, observer, run, before, victim, expected, timeout_s, progress, observer.samples[-1].hb.boot_id)

    def act() -> None:
        progress(f"  {fault.name}: {fault.what}; {before} -> {expected}")
        fault.strike(strike)

    try:
        window.record(lab, observer, run, f"{fault.name} struck", act, progress, avoid=victim)
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
