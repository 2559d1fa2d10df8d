"""The lab is up: two clusters, DRBD, NFS, and the guest talking to the host."""

from __future__ import annotations

import time

import pytest

from harness.cluster import hypervisor
from harness.cluster.placement import RunningGuest
from harness.cluster.state import ClusterState
from harness.config.facts import DRBD, NFS, PATHS, RESOURCES
from harness.config.lab import node_names
from harness.lab.handle import Lab
from harness.probe.observer import Observer
from harness.probe.timeline import analyze

pytestmark = [pytest.mark.smoke]

CLUSTERS = {role: node_names(role) for role in ("nas", "hv")}


def cluster_state(lab: Lab, node: str) -> ClusterState:
    return ClusterState.from_xml(lab.ssh(node, "sudo crm_mon -1 --output-as=xml"))


@pytest.mark.parametrize("cluster", sorted(CLUSTERS))
def test_cluster_has_both_nodes_online_and_no_failed_actions(lab: Lab, cluster: str) -> None:
    nodes = CLUSTERS[cluster]
    state = cluster_state(lab, nodes[0])
    assert sorted(state.online) == sorted(nodes)
    assert state.offline == ()
    assert state.failures == (), state.failures
    assert not any(r.failed for r in state.resources)


def test_drbd_is_connected_up_to_date_with_one_primary(lab: Lab) -> None:
    roles = {}
    for node in CLUSTERS["nas"]:
        assert lab.ssh(node, f"sudo drbdadm cstate {DRBD.resource}").strip() == "Connected"
        assert lab.ssh(node, f"sudo drbdadm dstate {DRBD.resource}").strip() == "UpToDate/UpToDate"
        roles[node] = lab.ssh(node, f"sudo drbdadm role {DRBD.resource}").strip().split("/")[0]
    assert sorted(roles.values()) == ["Primary", "Secondary"], roles
    [primary] = [n for n, role in roles.items() if role == "Primary"]
    state = cluster_state(lab, lab.config.nodes("nas")[0].name)
    assert state.where(RESOURCES.nfs) == [primary] or state.where(RESOURCES.nfs_server) == [primary]


@pytest.mark.parametrize("node", CLUSTERS["hv"])
def test_vip_answers_and_export_is_mounted(lab: Lab, node: str) -> None:
    host = lab.host(node)
    vip = lab.config.vip
    assert host.run(f"timeout 5 bash -c '</dev/tcp/{vip}/{NFS.port}'").rc == 0, f"{node} cannot reach NFS at {vip}"
    mount = host.mount_point(PATHS.vnode_mount)
    assert mount.exists
    assert mount.filesystem == "nfs4"
    assert f"{vip}:{PATHS.export}" == mount.device
    assert "vers=4.2" in mount.options and "hard" in mount.options


def test_guest_runs_on_one_vnode_as_libvirt_and_pacemaker_say(lab: Lab) -> None:
    [where] = cluster_state(lab, lab.config.nodes("hv")[0].name).where(RESOURCES.guest)
    states = {}
    for node in CLUSTERS["hv"]:
        conn = hypervisor.connect(lab.ssh_command(), node)
        try:
            states[node] = hypervisor.guest_state(conn)
        finally:
            conn.close()
    assert states[where] == "running", states
    [other] = [n for n in CLUSTERS["hv"] if n != where]
    assert states[other] != "running", states


def test_guest_heartbeats_reach_the_host(guest: RunningGuest, observer: Observer) -> None:
    first = observer.wait_for_heartbeat(60)
    time.sleep(5)
    analysis = analyze(observer.samples, interval_ms=5)
    assert analysis.received > 200
    assert analysis.boot_ids == [first.hb.boot_id] == [guest.boot_id]
    assert analysis.disk is not None and analysis.disk.last_ack > first.hb.last_ack, "the disk loop is not advancing"
    assert analysis.disk.errors == 0
