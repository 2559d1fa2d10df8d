"""Where a NAS move's disk stall went: each action of the NFS group and DRBD, the gaps between, the reconnect.

The stall runs from the guest's last acknowledged write before the NFS chain's last action
ended to its first one after; the rows add up to it (an action before the stall adds
nothing). A gap is time in which no action of those resources ran: the controller's
notifies, first monitors and re-plans live there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from harness.config.facts import RESOURCES
from harness.measure.record import Action, RunRecord
from harness.probe.disk import ack_progress, progress_times

# The resources that stand between the guest's disk and the NFS server, in the NAS cluster.
NFS_CHAIN_PREFIXES = (RESOURCES.nfs, RESOURCES.drbd)


@dataclass(frozen=True)
class Step:
    what: str  # "nfs_server stop on nas2", "gap", "client reconnect"
    at_s: float  # from the stall's start
    took_s: float
    adds_s: float  # what it adds to the stall: an action overlapping an earlier one adds only the rest


@dataclass(frozen=True)
class Breakdown:
    steps: list[Step]
    stall_s: float  # from the last write before to the first after: what the steps add up to

    def markdown(self) -> str:
        lines = ["| step | at s | took s | adds s |", "|---|---|---|---|"]
        lines += [f"| {s.what} | {s.at_s:.1f} | {s.took_s:.1f} | {s.adds_s:.1f} |" for s in self.steps]
        lines.append(f"| **disk stall** | | | **{self.stall_s:.1f}** |")
        return "\n".join(lines) + "\n"


def in_chain(action: Action) -> bool:
    return action.resource.startswith(NFS_CHAIN_PREFIXES) and action.operation != "monitor"


def nas_breakdown(actions: Sequence[Action], progress_ns: Sequence[int], after_ns: int) -> Breakdown | None:
    """The stall around the NFS chain's actions after `after_ns` (the move's request); None without them."""
    chain = sorted((a for a in actions if in_chain(a) and a.ended_ns >= after_ns), key=lambda a: a.started_ns)
    if not chain:
        return None
    last_end = max(a.ended_ns for a in chain)
    # Writes may go on while the first stops run (until the port is blocked): the stall starts at the last one.
    before = [t for t in progress_ns if after_ns <= t <= last_end]
    after = [t for t in progress_ns if t > last_end]
    start = before[-1] if before else min(after_ns, chain[0].started_ns)
    end = after[0] if after else last_end
    steps: list[Step] = []
    reached = start  # the latest end so far: actions that overlap leave no gap
    for action in chain:
        if action.started_ns > reached:
            gap_s = (action.started_ns - reached) / 1e9
            steps.append(Step("gap (notifies, monitors, re-plans)", (reached - start) / 1e9, gap_s, gap_s))
        took_s = (action.ended_ns - action.started_ns) / 1e9
        adds_s = max(0, action.ended_ns - max(action.started_ns, reached)) / 1e9
        what = f"{action.resource} {action.operation} on {action.node}"
        steps.append(Step(what, (action.started_ns - start) / 1e9, took_s, adds_s))
        reached = max(reached, action.ended_ns)
    what = "client reconnect (to the first write after)" if after else "no write after the chain in the window"
    tail_s = max(0, end - reached) / 1e9
    steps.append(Step(what, (reached - start) / 1e9, tail_s, tail_s))
    return Breakdown(steps, (end - start) / 1e9)


def of_run(run: RunRecord) -> Breakdown | None:
    return nas_breakdown(run.actions, progress_times(run.samples), run.started_ns)


def of_document(document: dict[str, Any]) -> Breakdown | None:
    """The same from a run's JSON file (`json_report.write_run_json`)."""
    beats = document["heartbeats"]
    progress = ack_progress(zip(beats["host_ns"], beats["boot_id"], beats["last_ack"], strict=True))
    actions = [Action(**a) for a in document["pacemaker_actions"]]
    return nas_breakdown(actions, progress, document["window_ns"]["move_requested"])
