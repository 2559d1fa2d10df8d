"""The seed's three moves, and both at once with the switchover inside the NFS outage, run and measured.

A run puts the lab in the scenario's starting placement (unmeasured), sets the
guest's memory load, then triggers the move the operator's way while the window
(`window.record`) records the guest, both clusters and DRBD. It returns what the
scenario expects of the run; judging is `verdicts.judge`'s.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from harness.cluster import placement
from harness.cluster.placement import Placement
from harness.config.budgets import Budget
from harness.config.lab import node_names
from harness.lab.handle import Lab
from harness.measure import window
from harness.measure.expectations import Expectations
from harness.measure.record import RunRecord
from harness.measure.window import move_timeout_s
from harness.probe.observer import Observer

RESUME_AFTER_SERVED_S = 10.0  # the outage kind: the guest runs again this soon after NFS serves


@dataclass(frozen=True)
class Scenario:
    name: str
    start: Placement
    end: Placement
    switchover_in_outage: bool = False  # both moves: the migration's switchover made to land in the NFS outage

    @property
    def moves(self) -> dict[str, str]:
        wanted = {"guest": self.end.guest, "nfs": self.end.nfs}
        return {what: target for what, target in wanted.items() if getattr(self.start, what) != target}

    def expectations(self, budget: Budget) -> Expectations:
        guest_moves = "guest" in self.moves
        both = guest_moves and "nfs" in self.moves
        return Expectations(
            end=self.end,
            budget=budget,
            migration=(self.start.guest, self.end.guest) if guest_moves else None,
            freeze_budget=not self.switchover_in_outage,
            nfs_stop_after_switchover=both and not self.switchover_in_outage,
            resume_after_served_s=RESUME_AFTER_SERVED_S if self.switchover_in_outage else None,
        )


# The seed's cycle, with each role's nodes in the config's order (hv_a, hv_b; nas_a, nas_b):
# hv_a+nas_b -> hv_b+nas_b -> hv_b+nas_a -> hv_a+nas_b; the outage run goes from where
# both_move ends, back to where it starts.
hv_a, hv_b = node_names("hv")
nas_a, nas_b = node_names("nas")
SCENARIOS = {
    s.name: s
    for s in (
        Scenario("hypervisor_move", Placement(hv_a, nas_b), Placement(hv_b, nas_b)),
        Scenario("nas_move", Placement(hv_b, nas_b), Placement(hv_b, nas_a)),
        Scenario("both_move", Placement(hv_b, nas_a), Placement(hv_a, nas_b)),
        Scenario("both_move_in_outage", Placement(hv_a, nas_b), Placement(hv_b, nas_a), True),
    )
}


def run_move(
    lab: Lab,
    observer: Observer,
    scenario: Scenario,
    run: RunRecord,
    budget: Budget,
    progress: Callable[[str], None] = print,
) -> Expectations:
    """Fill `run` as the move goes, so that a run that fails half-way still reports what it saw."""
    timeout_s = move_timeout_s(run.accel)
    placement.reach(lab, scenario.start, timeout_s, progress)
    observer.set_load(run.load_mibs)
    run.ack_before = window.wait_for_disk_progress(observer, timeout_s=120)
    if scenario.switchover_in_outage:
        run.notes.append(
            "the switchover made to land inside the NFS outage (migration held to 1 MiB/s until the old server left): "
            "the source's flush waits on the dead mount, so the guest stays stopped until NFS serves again"
        )
    elif len(scenario.moves) == 2:
        run.notes.append("the operator's safe order: the NFS move starts once the migration's switchover is over")

    def move() -> None:
        progress(f"  {scenario.name}: {scenario.start} -> {scenario.end}, load {run.load_mibs} MiB/s")
        run.commands = placement.move(lab, scenario.moves, timeout_s, scenario.switchover_in_outage)
        observer.mark("move commands returned")
        placement.wait_idle(lab, timeout_s)

    window.record(lab, observer, run, "move requested", move, progress)
    migrated_to = scenario.end.guest if "guest" in scenario.moves else None
    window.collect(lab, run, scenario.end, migrated_to)
    return scenario.expectations(budget)
