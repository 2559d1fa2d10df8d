"""The vnode running the guest powered off hard: the guest cannot live on; it is restarted on the other vnode."""

from __future__ import annotations

from harness.config.facts import RESOURCES
from harness.measure.record import RunRecord
from harness.runs.faults.crash import crash_plan, crash_strike
from harness.runs.faults.fault import Fault, Strike
from harness.runs.faults.reading import crashed, first_change, heartbeats_back


def events(run: RunRecord, s: Strike) -> dict[str, float | None]:
    started = f"Started {s.expected.guest}"
    guest_started = first_change(run, lambda src, key, new: (src, key, new) == ("hv", RESOURCES.guest, started))
    return {**crashed(s, run, s.expected.guest), "guest_started_s": guest_started, **heartbeats_back(run)}


FAULT = Fault(
    "hypervisor_crash",
    "hv",
    False,
    "power off the vnode that runs the guest (a hard off, from the host)",
    crash_plan("hv"),
    crash_strike("hv"),
    events,
)
