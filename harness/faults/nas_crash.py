"""The NAS that serves NFS powered off hard: the survivor is promoted, the guest's disk stalls and resumes."""

from __future__ import annotations

from harness.faults.crash import crash_and_repair
from harness.faults.fault import Fault, Strike
from harness.faults.reading import crashed, first_change
from harness.lab import Lab
from harness.placement import Placement, other_node
from harness.run_record import RunRecord


def plan(lab: Lab, before: Placement) -> tuple[str | None, Placement]:
    return before.nfs, Placement(before.guest, other_node(lab, "nas", before.nfs))


def strike(s: Strike) -> None:
    crash_and_repair(s, "nas", s.expected.nfs, guest_restarts=False)


def events(run: RunRecord, s: Strike) -> dict[str, float | None]:
    assert s.victim is not None
    survivor = s.expected.nfs
    return {
        **crashed(s.lab, run, s.victim, survivor),
        "promoted_s": first_change(run, lambda src, key, new: src == f"drbd {survivor}" and key == "role"
                                   and new == "Primary"),
        "served_s": first_change(run, lambda src, key, new: src == "nas" and key == "nfs_unblock"
                                 and new == f"Started {survivor}"),
    }  # fmt: skip


FAULT = Fault(
    "nas_crash", "nas", True, "power off the NAS that serves NFS (a hard off, from the host)", plan, strike, events
)
