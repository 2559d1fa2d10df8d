"""Waiting for the clusters to recover from a fault, and for the lab to be whole again."""

from __future__ import annotations

import time

from harness import placement
from harness.faults.fault import Strike
from harness.faults.power import power_on
from harness.lab import Lab, LabError
from harness.observer import Observer
from harness.waiting import wait_for


def serves(lab: Lab, role: str, node: str) -> bool:
    state = placement.cluster_state(lab, role)
    if role == "hv":
        return state.where(placement.GUEST) == [node]
    return state.where("nfs_unblock") == [node] and state.where(placement.DRBD, role="Promoted") == [node]


def rejoined(lab: Lab, role: str) -> bool:
    state = placement.cluster_state(lab, role)
    return sorted(state.online) == sorted(n.name for n in lab.config.nodes(role))


def wait_for_new_boot(observer: Observer, old: str, timeout_s: float) -> None:
    """Until the restarted guest's probe reports (a new boot id): its kernel boots after Pacemaker's start."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            sample = observer.wait_for_heartbeat(min(30.0, timeout_s), after_ns=time.time_ns())
        except TimeoutError:
            continue
        if sample.hb.boot_id != old:
            observer.mark("restarted guest reports")
            return
    raise LabError(f"the restarted guest sent no heartbeat within {timeout_s:.0f} s")


def repair(s: Strike, role: str) -> None:
    """Power the struck node back on (fencing left it off), wait until both clusters are whole again."""
    assert s.victim is not None
    started = time.monotonic()
    s.progress(f"  {s.run.scenario}: powering {s.victim} back on")
    power_on(s.lab, s.victim, s.timeout_s)
    wait_for(f"{s.victim} back in its cluster", s.timeout_s, lambda: rejoined(s.lab, role))
    placement.wait_idle(s.lab, s.timeout_s)
    s.run.events["repair_s"] = round(time.monotonic() - started, 1)
