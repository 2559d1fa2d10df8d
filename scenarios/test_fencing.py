"""Fencing works: `pcs stonith fence` power-cycles a node through fence_xvm and the host's fence_virtd,
and the node rejoins its cluster; the service on the other node, and the guest, never notice."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from harness.cluster import placement
from harness.cluster.placement import RunningGuest
from harness.cluster.state import ClusterState
from harness.config.facts import RESOURCES
from harness.config.timings import TIMINGS
from harness.host import network as host_network
from harness.lab.handle import Lab
from harness.lab.ssh import LabError
from harness.probe.observer import Observer
from harness.probe.timeline import analyze
from harness.runs.faults import domain
from harness.waiting import wait_for

pytestmark = [pytest.mark.destructive]

SERVICE = {"hv": RESOURCES.guest, "nas": RESOURCES.nfs_server}


def state_on(lab: Lab, node: str) -> ClusterState:
    return ClusterState.from_xml(lab.ssh(node, "sudo crm_mon -1 --output-as=xml"))


def domain_id(lab: Lab, node: str) -> str:
    """libvirt's id of a running domain: a power cycle gives it a new one."""
    return host_network.virsh("domid", domain(lab, node)).stdout.strip()


def boot_id(lab: Lab, node: str) -> str:
    return lab.ssh(node, "cat /proc/sys/kernel/random/boot_id").strip()


@pytest.mark.parametrize("role", ["nas", "hv"])
def test_pcs_stonith_fence_power_cycles_a_node_and_it_rejoins(
    lab: Lab, observer: Observer, guest: RunningGuest, role: str, record_property: Callable[[str, object], None]
) -> None:
    timings = TIMINGS[lab.accel()]
    nodes = [n.name for n in lab.config.nodes(role)]
    [serving] = state_on(lab, nodes[0]).where(SERVICE[role])
    [victim] = [n for n in nodes if n != serving]  # the idle node: the service must not notice
    before = (domain_id(lab, victim), boot_id(lab, victim))
    assert before[0] not in ("", "-"), f"{victim} is not running in libvirt"
    window_ns = time.time_ns()

    started = time.monotonic()
    lab.ssh(serving, f"sudo pcs stonith fence {victim}")  # the operator's command, on the survivor
    fence_s = time.monotonic() - started
    history = lab.ssh(serving, f"sudo stonith_admin --history {victim}")
    assert "reboot" in history and "successful" in history, history
    assert domain_id(lab, victim) != before[0], f"libvirt's {victim} was not power-cycled"

    def rejoined() -> bool:
        try:
            state = state_on(lab, serving)
        except LabError:
            return False
        return sorted(state.online) == sorted(nodes)

    rejoin_s = wait_for(f"{victim} back online in its cluster", 3 * timings.start_timeout_s, rejoined, every_s=5.0)
    lab.ssh(serving, f"sudo crm_resource --wait --timeout={3 * timings.start_timeout_s}s")
    if role == "nas":
        wait_for(
            "DRBD UpToDate/UpToDate again",
            3 * timings.start_timeout_s,
            lambda: all(s.healthy for s in placement.drbd_states(lab).values()),
            every_s=5.0,
        )
    settled_s = time.monotonic() - started
    for name, value in (("fence_s", fence_s), ("rejoin_s", rejoin_s), ("settled_s", settled_s)):
        record_property(f"{role}_{name}", round(value, 1))
    print(f"{role}: fenced {victim} in {fence_s:.0f} s, rejoined {rejoin_s:.0f} s later, settled at {settled_s:.0f} s")

    assert boot_id(lab, victim) != before[1], f"{victim} did not reboot"
    state = state_on(lab, serving)
    assert state.where(SERVICE[role]) == [serving], "the service moved: the survivor was disturbed"
    assert state.failures == (), state.failures
    assert placement.leftover_constraints(lab) == {"hv": [], "nas": []}
    # The guest ran on: the same boot, heartbeats to the end.
    samples = [s for s in observer.samples if s.host_ns >= window_ns]
    analysis = analyze(samples, interval_ms=5)
    record_property(f"{role}_guest_largest_freeze_ms", round(analysis.largest_freeze_ms, 1))
    assert analysis.boot_ids == [guest.boot_id], analysis.boot_ids
    observer.wait_for_heartbeat(10, after_ns=time.time_ns())
