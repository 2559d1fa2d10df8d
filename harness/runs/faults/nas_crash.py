"""The NAS that serves NFS powered off hard: the survivor is promoted, the guest's disk stalls and resumes."""

from __future__ import annotations

from harness.config.facts import RESOURCES
from harness.measure.record import RunRecord
from harness.runs.faults.crash import crash_plan, crash_strike
from harness.runs.faults.fault import Fault, Strike
from harness.runs.faults.reading import crashed, first_change


def events(run: RunRecord, s: Strike) -> dict[str, float | None]:
    survivor = s.expected.nfs
    promoted = ("role", "Primary")
    served = ("nas", RESOURCES.nfs_gate, f"Started {survivor}")
    return {
        **crashed(s, run, survivor),
        "promoted_s": first_change(run, lambda src, key, new: src == f"drbd {survivor}" and (key, new) == promoted),
        "served_s": first_change(run, lambda src, key, new: (src, key, new) == served),
    }


FAULT = Fault(
    "nas_crash", "nas", True, "power off the NAS that serves NFS (a hard off, from the host)",
    crash_plan("nas"), crash_strike("nas"), events,
)  # fmt: skip
