"""One record type for every measured run (a move, a fault, a control): what happened, on the host's clock.

Running a scenario fills a `RunRecord`; judging reads only the record and what the
scenario expected (`verdicts.judge`), never the lab or the scenario's code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness.cluster.drbd import DrbdState
from harness.cluster.placement import Command, Placement
from harness.cluster.state import Failure, Location
from harness.cluster.watch import Change
from harness.config.timings import PROBE
from harness.probe.disk import first_write_after
from harness.probe.observer import Sample
from harness.probe.records import Verification
from harness.probe.timeline import Analysis, Noise


@dataclass(frozen=True)
class Action:
    """A Pacemaker operation that finished during the run, on the host's clock."""

    resource: str
    node: str
    operation: str
    rc: int
    started_ns: int
    ended_ns: int


@dataclass
class RunRecord:
    scenario: str
    load_mibs: int
    accel: str
    before: Placement | None  # a fault starts wherever the lab is: set when it strikes
    after: Placement | None = None
    kind: str = "move"  # move, fault or control
    window_ns: int = 0  # the window opened: the quiet stretch before the strike starts here
    started_ns: int = 0  # the move was requested (the fault struck); the baseline ends here
    idle_ns: int = 0  # both clusters had nothing left to do (after a fault: the lab whole again)
    ended_ns: int = 0
    ack_before: int = 0
    commands: list[Command] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)
    analysis: Analysis | None = None
    baseline: Noise | None = None  # the heartbeats' noise over the quiet stretch before the strike
    changes: list[Change] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)
    # Every operation the NAS nodes ran in the window, from their journals: notifies and monitors too.
    node_ops: list[Action] = field(default_factory=list)
    migration: dict[str, Any] | None = None  # libvirt's completed-job statistics on the destination
    guest_states: dict[str, str | None] = field(default_factory=dict)
    failures: dict[str, list[Failure]] = field(default_factory=dict)
    leftovers: dict[str, list[Location]] = field(default_factory=dict)
    drbd_after: dict[str, DrbdState] = field(default_factory=dict)
    started_from: str = ""  # the snapshot the lab was reverted to before the run ("": where the last run left it)
    verifications: list[Verification] = field(default_factory=list)  # one per boot seen in the window
    clock_offsets_ms: dict[str, float] = field(default_factory=dict)
    ring: int = PROBE.ring  # the probe's record ring, as the running guest was started with
    # Seconds from the strike to each step of the recovery (faults), and what a control planted.
    events: dict[str, float | None] = field(default_factory=dict)
    split_brain: dict[str, list[str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # what the run itself says about its kind

    @property
    def disk_resumed_ns(self) -> int | None:
        """When a record written after the clusters went idle was acknowledged, within the window."""
        if not self.idle_ns:
            return None
        return first_write_after(self.samples, self.idle_ns)

    def figures(self) -> dict[str, float | int | str | None]:
        """The headline numbers, flat: what a summary table and JUnit properties show."""
        a, m, b = self.analysis, self.migration or {}, self.baseline
        resumed = self.disk_resumed_ns
        return {
            "largest_freeze_ms": round(a.largest_freeze_ms, 1) if a else None,
            "baseline_freeze_ms": round(b.largest_freeze_ms, 1) if b else None,
            "baseline_gaps_over_100ms": b.gaps_over_100ms if b else None,
            "freezes": len(a.freezes) if a else None,
            "lost_heartbeats": a.lost if a else None,
            "duplicate_heartbeats": a.duplicates if a else None,
            "reordered_heartbeats": a.reordered if a else None,
            "guest_minus_host_ms": round(a.guest_minus_host_ms, 1) if a and a.guest_minus_host_ms is not None else None,
            "disk_stall_ms": round(a.disk.longest_without_ack_ms, 1) if a and a.disk else None,
            "max_write_latency_ms": round(a.disk.max_write_latency_ms, 1) if a and a.disk else None,
            "disk_resumed_s": round((resumed - self.idle_ns) / 1e9, 1) if resumed else None,
            "move_s": round((self.idle_ns - self.started_ns) / 1e9, 1) if self.idle_ns else None,
            **libvirt_figures(m),
            "records_checked": sum(v.checked for v in self.verifications) if self.verifications else None,
            "records_missing": sum(len(v.lost) for v in self.verifications) if self.verifications else None,
            **self.events,
        }


def libvirt_figures(job: dict[str, int]) -> dict[str, float | int | None]:
    """The figures of libvirt's completed migration job (an empty dict: no migration)."""
    return {
        "libvirt_downtime_ms": job.get("downtime"),
        "libvirt_downtime_net_ms": job.get("downtime_net"),
        "libvirt_total_ms": job.get("time_elapsed"),
        # data_total is the guest's RAM; data_processed is what crossed the wire.
        "libvirt_data_mib": round(job["data_processed"] / 2**20, 1) if "data_processed" in job else None,
        "libvirt_passes": job.get("memory_iteration"),
        "libvirt_mibs": round(job["memory_bps"] / 2**20, 1) if "memory_bps" in job else None,
    }
