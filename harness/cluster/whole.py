"""Is the lab whole: what a scenario may start from (after a revert, or before a run).

Both clusters quorate with every node online and no failed action, DRBD connected and
UpToDate on both sides with one primary, the NFS service and the guest each running on one
node, the export answering on both vnodes, and the guest's heartbeats reaching the host.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from harness.cluster import placement
from harness.cluster.drbd import DrbdState
from harness.cluster.state import ClusterState
from harness.config.facts import PATHS, RESOURCES
from harness.lab.handle import Lab
from harness.probe.observer import Observer
from harness.waiting import NotYet, wait_for

MOUNT_ANSWER_S = 10  # a hard mount with no server blocks stat for ever: bound it
WHOLE_TIMEOUT_S = 600  # a restored or reverted TCG lab is whole in about a minute


def cluster_problems(role: str, nodes: list[str], state: ClusterState) -> list[str]:
    found = []
    if sorted(state.online) != sorted(nodes):
        found.append(f"{role} cluster: online {sorted(state.online)}, expected {sorted(nodes)}")
    found += [f"{role} cluster: failed {f.op_key} on {f.node} ({f.exit_reason or 'no reason'})" for f in state.failures]
    found += [f"{role} cluster: {r.id} failed on {', '.join(r.nodes)}" for r in state.resources if r.failed]
    return found


def drbd_problems(states: dict[str, DrbdState]) -> list[str]:
    found = [f"DRBD on {node}: {state}" for node, state in states.items() if not state.healthy]
    primaries = [node for node, state in states.items() if state.role == "Primary"]
    if len(primaries) != 1:
        found.append(f"DRBD primary on {primaries or 'no node'}, expected exactly one")
    return found


def placement_problems(hv: ClusterState, nas: ClusterState) -> list[str]:
    found = []
    guest, nfs = hv.where(RESOURCES.guest), nas.where(RESOURCES.nfs_ip)
    if len(guest) != 1:
        found.append(f"the guest runs on {guest or 'no vnode'}, expected one")
    if len(nfs) != 1:
        found.append(f"the NFS address is on {nfs or 'no NAS node'}, expected one")
    return found


def problems(lab: Lab) -> list[str]:
    """What keeps the lab from being whole now (empty: whole), the guest's heartbeat aside."""
    # Side by side: right after a revert each SSH round trip to a busy TCG node takes seconds
    # (one check after the other took 26 s of a 60 s revert).
    stat = f"timeout {MOUNT_ANSWER_S} stat -f -c %T {PATHS.vnode_mount} || true"
    with ThreadPoolExecutor(max_workers=6) as pool:
        asked = {role: pool.submit(placement.cluster_state, lab, role) for role in ("hv", "nas")}
        drbd = pool.submit(placement.drbd_states, lab)
        mounts = {n.name: pool.submit(lab.ssh, n.name, stat) for n in lab.config.nodes("hv")}
        states = {role: future.result() for role, future in asked.items()}
        drbd_states = drbd.result()
        answers = {node: future.result().strip() for node, future in mounts.items()}
    found = []
    for role, state in states.items():
        found += cluster_problems(role, [n.name for n in lab.config.nodes(role)], state)
    found += drbd_problems(drbd_states)
    found += placement_problems(states["hv"], states["nas"])
    for node, answer in answers.items():
        if answer != "nfs":
            why = answer or "no reply"
            found.append(f"the export on {node} does not answer within {MOUNT_ANSWER_S} s ({why})")
    return found


def wait_whole(lab: Lab, timeout_s: float, heartbeat_s: float = 60) -> float:
    """Until the lab is whole and the guest heartbeats; the seconds that took. On timeout the
    error lists what was still wrong."""

    def whole() -> bool:
        found = problems(lab)
        if found:
            raise NotYet("; ".join(found))
        return True

    took = wait_for("the lab whole (clusters, DRBD, NFS, guest)", timeout_s, whole, every_s=3)
    with Observer(lab.config.host_ip, lab.config.observer_port, guest=lab.config.guest_ip) as observer:
        observer.wait_for_heartbeat(heartbeat_s)
    return took
