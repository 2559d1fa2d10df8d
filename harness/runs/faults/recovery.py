"""Waiting for the clusters to recover from a fault, and for the lab to be whole again."""

from __future__ import annotations

import time

from harness.cluster import placement
from harness.config.facts import RESOURCES
from harness.lab.handle import Lab
from harness.probe.observer import Observer
from harness.runs.faults.fault import Strike
from harness.runs.faults.power import power_on
from harness.waiting import NotYet, wait_for


def serves(lab: Lab, role: str, node: str) -> bool:
    state = placement.cluster_state(lab, role)
    if role == "hv":
        return state.where(RESOURCES.guest) == [node]
    return state.where(RESOURCES.nfs_gate) == [node] and state.where(RESOURCES.drbd, role="Promoted") == [node]


def rejoined(lab: Lab, role: str) -> bool:
    state = placement.cluster_state(lab, role)
    return sorted(state.online) == sorted(n.name for n in lab.config.nodes(role))


def wait_for_new_boot(observer: Observer, old: str, timeout_s: float) -> None:
    """Until the restarted guest's probe reports (a new boot id): its kernel boots after Pacemaker's start."""

    def new_boot() -> bool:
        sample = observer.wait_for_heartbeat(min(30.0, timeout_s), after_ns=time.time_ns())
        if sample.hb.boot_id == old:
            raise NotYet(f"heartbeats still from the old boot {old}")
        return True

    wait_for("a heartbeat from the restarted guest", timeout_s, new_boot, every_s=0, retry_on=(TimeoutError,))
    observer.mark("restarted guest reports")


def repair(s: Strike, role: str) -> None:
    """Power the struck node back on (fencing left it off), wait until both clusters are whole again."""
    assert s.victim is not None
    started = time.monotonic()
    s.progress(f"  {s.run.scenario}: powering {s.victim} back on")
    power_on(s.lab, s.victim, s.timeout_s)
    wait_for(f"{s.victim} back in its cluster", s.timeout_s, lambda: rejoined(s.lab, role))
    placement.wait_idle(s.lab, s.timeout_s)
    s.run.events["repair_s"] = round(time.monotonic() - started, 1)
