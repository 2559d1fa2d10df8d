"""The vnode running the guest powered off hard: the guest cannot live on; it is restarted on the other vnode."""

from __future__ import annotations

from harness.faults.crash import crash_and_repair
from harness.faults.fault import Fault, Strike
from harness.faults.reading import crashed, first_change, heartbeats_back
from harness.lab import Lab
from harness.placement import Placement, other_node
from harness.run_record import RunRecord


def plan(lab: Lab, before: Placement) -> tuple[str | None, Placement]:
    return before.guest, Placement(other_node(lab, "hv", before.guest), before.nfs)


def strike(s: Strike) -> None:
    crash_and_repair(s, "hv", s.expected.guest, guest_restarts=True)


def events(run: RunRecord, s: Strike) -> dict[str, float | None]:
    assert s.victim is not None
    target = s.expected.guest
    return {
        **crashed(s.lab, run, s.victim, target),
        "guest_started_s": first_change(run, lambda src, key, new: src == "hv" and key == "guest"
                                        and new == f"Started {target}"),
        **heartbeats_back(run),
    }  # fmt: skip


FAULT = Fault(
    "hypervisor_crash",
    "hv",
    False,
    "power off the vnode that runs the guest (a hard off, from the host)",
    plan,
    strike,
    events,
)
