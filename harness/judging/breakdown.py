"""Where a NAS move's disk stall went: each action of the NFS group and DRBD, the gaps between, the reconnect.

The stall is the longest stretch without an acknowledged write in the run's window (the run's
`disk_stall_ms`); the rows are the chain's operations inside it, and add up to it.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from harness.config.facts import RESOURCES
from harness.measure.record import Action, RunRecord
from harness.probe.disk import ack_progress, progress_times

# With the nodes' journals every operation is a row of its own; what is left between them is the
# controller's own time (re-planning, waiting on its load throttle); with the CIB's history only,
# notifies and first monitors fall in the gaps too.
GAP = "gap (no operation of the chain running)"

# The resources that stand between the guest's disk and the NFS server, in the NAS cluster.
NFS_CHAIN_PREFIXES = (RESOURCES.nfs, RESOURCES.drbd)


@dataclass(frozen=True)
class Step:
    what: str  # "nfs_server stop on nas2", "gap", "client reconnect"
    kind: str  # the operation ("stop", "notify"…), "gap", "reconnect" or "no write"
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
        kinds = ", ".join(f"{kind} {seconds:.1f} s" for kind, seconds in self.by_kind().items())
        return "\n".join(lines) + f"\n\nBy kind: {kinds}.\n"

    def by_kind(self) -> dict[str, float]:
        """Seconds of the stall per kind of step (stop, start, notify, monitor, gap, reconnect…), largest first."""
        totals: dict[str, float] = {}
        for step in self.steps:
            totals[step.kind] = totals.get(step.kind, 0.0) + step.adds_s
        return dict(sorted(totals.items(), key=lambda kv: -kv[1]))


def in_chain(action: Action) -> bool:
    return action.resource.startswith(NFS_CHAIN_PREFIXES)


def nas_breakdown(
    actions: Sequence[Action], progress_ns: Sequence[int], after_ns: int, until_ns: int | None = None
) -> Breakdown | None:
    """The longest stretch without a write between `after_ns` (the move's request) and `until_ns` (the
    window's end), and the chain's operations inside it; None when no operation of the chain falls in it."""
    end_of_window = until_ns if until_ns is not None else max([*progress_ns, after_ns])
    earlier = [t for t in progress_ns if t <= after_ns]
    points = earlier[-1:] + [t for t in progress_ns if after_ns < t <= end_of_window]
    if not points:
        return None
    resumed = [*points, end_of_window] if points[-1] < end_of_window else points
    start, end = max(itertools.pairwise(resumed), key=lambda p: p[1] - p[0], default=(points[0], points[0]))
    came_back = end in progress_ns
    chain = sorted(
        (a for a in actions if in_chain(a) and a.ended_ns > start and a.started_ns < end), key=lambda a: a.started_ns
    )
    if not chain:
        return None
    # Once the new server serves (its gate started), what is left is the client's: an operation
    # still running then (the gate's first monitor) does not hold the guest's disk.
    served = [a.ended_ns for a in chain if a.resource == RESOURCES.nfs_gate and a.operation == "start"]
    chain_end = min(served[-1], end) if served else end
    chain = [a for a in chain if a.started_ns < chain_end]
    steps: list[Step] = []
    reached = start  # the latest end so far: operations that overlap leave no gap
    for action in chain:
        if action.started_ns > reached:
            gap_s = (action.started_ns - reached) / 1e9
            steps.append(Step(GAP, "gap", (reached - start) / 1e9, gap_s, gap_s))
        took_s = (action.ended_ns - action.started_ns) / 1e9
        adds_s = max(0, min(action.ended_ns, chain_end) - max(action.started_ns, reached)) / 1e9
        what = f"{action.resource} {action.operation} on {action.node}"
        steps.append(Step(what, action.operation, (action.started_ns - start) / 1e9, took_s, adds_s))
        reached = min(max(reached, action.ended_ns), chain_end)
    what, kind = (
        ("client reconnect (to the first write after)", "reconnect")
        if came_back
        else ("no write after the chain in the window", "no write")
    )
    tail_s = max(0, end - reached) / 1e9
    steps.append(Step(what, kind, (reached - start) / 1e9, tail_s, tail_s))
    return Breakdown(steps, (end - start) / 1e9)


def of_run(run: RunRecord) -> Breakdown | None:
    # The nodes' journals name every operation (notifies, first monitors); the CIB keeps the last of each kind.
    return nas_breakdown(run.node_ops or run.actions, progress_times(run.samples), run.started_ns, run.ended_ns or None)


def of_document(document: dict[str, Any]) -> Breakdown | None:
    """The same from a run's JSON file (`json_report.write_run_json`)."""
    beats = document["heartbeats"]
    progress = ack_progress(zip(beats["host_ns"], beats["boot_id"], beats["last_ack"], strict=True))
    actions = [Action(**a) for a in document.get("node_operations") or document["pacemaker_actions"]]
    window = document["window_ns"]
    return nas_breakdown(actions, progress, window["move_requested"], window["ended"] or None)
