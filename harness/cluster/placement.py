"""Where the guest and the NFS service run, and the operator's way of moving them.

Moves are what an operator types: `crm_resource --move`, wait for the cluster
to settle, `crm_resource --clear` (the cli-prefer constraint must not pin the
resource from then on). `pcs resource move` does the same but spends minutes
in its own simulations on a TCG node before the move even starts. Anything a
move leaves behind is found by `leftover_constraints`.
"""

from __future__ import annotations

import shlex
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import libvirt

from harness.cluster import hypervisor
from harness.cluster.drbd import DrbdState, parse_proc_drbd
from harness.cluster.state import ClusterState, Location, leftovers, locations_from_cib
from harness.config.facts import LIBVIRT, RESOURCES
from harness.lab.handle import Lab
from harness.lab.ssh import LabError
from harness.waiting import NotYet, WaitTimeout, wait_for

GUEST = RESOURCES.guest  # kept for scenarios/conftest.py and tests/test_move_order.py; new code reads RESOURCES


@dataclass(frozen=True)
class Placement:
    guest: str  # the vnode running the guest
    nfs: str  # the NAS node serving NFS (the DRBD primary)

    def __str__(self) -> str:
        return f"{self.guest}+{self.nfs}"


@dataclass(frozen=True)
class RunningGuest:
    node: str  # the vnode Pacemaker runs it on
    boot_id: str  # from its probe's heartbeats


@dataclass(frozen=True)
class Command:
    """One operator command, stamped on the host's clock."""

    node: str
    command: str
    started_ns: int
    ended_ns: int
    output: str

    @property
    def seconds(self) -> float:
        return (self.ended_ns - self.started_ns) / 1e9


def control_node(lab: Lab, role: str, avoid: str | None = None) -> str:
    """The node that cluster commands of a role ("hv", "nas") run on: the first one that is up
    (and is not `avoid`, a node about to be struck down)."""
    up = [n.name for n in lab.config.nodes(role) if n.name not in lab.down and n.name != avoid]
    if not up:
        raise LabError(f"every {role} node is down ({sorted(lab.down)}): start one with 'virsh start'")
    return up[0]


def cluster_state(lab: Lab, role: str) -> ClusterState:
    return ClusterState.from_xml(lab.ssh(control_node(lab, role), "sudo crm_mon -1 --output-as=xml"))


def drbd_states(lab: Lab) -> dict[str, DrbdState]:
    nodes = [n.name for n in lab.config.nodes("nas") if n.name not in lab.down]
    return {node: parse_proc_drbd(lab.ssh(node, "cat /proc/drbd")) for node in nodes}


def current(lab: Lab) -> Placement:
    """Where things run now; a LabError if the guest or the NFS service is not running exactly once."""
    guest = cluster_state(lab, "hv").where(RESOURCES.guest)
    nas = cluster_state(lab, "nas")
    primary, group = nas.where(RESOURCES.drbd, role="Promoted"), nas.where(RESOURCES.nfs_ip)
    if len(guest) != 1 or len(primary) != 1 or group != primary:
        raise LabError(
            f"the lab is not in a placement a move can start from: guest on {guest or 'no node'}, "
            f"DRBD primary on {primary or 'no node'}, NFS address on {group or 'no node'}; "
            "look at 'crm_mon' on the nodes or rebuild the lab with 'ha-lab destroy' and 'ha-lab up'"
        )
    return Placement(guest[0], primary[0])


def run_timed(lab: Lab, node: str, command: str) -> Command:
    started = time.time_ns()
    output = lab.ssh(node, command)
    return Command(node, command, started, time.time_ns(), output)


def move_command(what: str, target: str, timeout_s: int) -> str:
    resource = RESOURCES.guest if what == "guest" else RESOURCES.nfs
    return (
        f"sudo crm_resource --move --resource {resource} --node {target}"
        f" && sudo crm_resource --wait --timeout={timeout_s}s"
        f" && sudo crm_resource --clear --resource {resource}"
    )


def move(lab: Lab, moves: dict[str, str], timeout_s: int, switchover_in_outage: bool = False) -> list[Command]:
    """Start the moves ({"guest": vnode, "nfs": NAS node}, either or both); return once every one returned.

    Both at once, the operator's safe order: the migration first, the NFS move once the
    migration's switchover is over (the guest runs on its destination and libvirt's job
    completed on the source). At switchover the
    source stops the guest and flushes its disk; with the NFS server away that flush waits on
    the hard mount and the guest stays stopped until NFS serves again. The moves still overlap:
    the migration's end (migrate_from, the source's stop) runs while the storage moves.

    `switchover_in_outage` makes the switchover land inside the NFS outage on purpose: the
    migration is held to 1 MiB/s (it cannot converge), the NFS move starts once the migration
    reached its destination, and the limit is lifted once the NFS port has closed.
    """
    results: dict[str, Command] = {}
    errors: list[BaseException] = []

    def run(what: str, target: str) -> None:
        try:
            role = "hv" if what == "guest" else "nas"
            results[what] = run_timed(lab, control_node(lab, role), move_command(what, target, timeout_s))
        except BaseException as err:
            errors.append(err)

    threads = {what: threading.Thread(target=run, args=(what, target)) for what, target in moves.items()}
    both = "guest" in moves and "nfs" in moves
    source = other_node(lab, "hv", moves["guest"]) if both else ""
    if both:
        if switchover_in_outage:
            set_migration_speed(lab, source, HELD_MIBS)
        try:
            threads["guest"].start()
            target, migration = moves["guest"], threads["guest"]
            if switchover_in_outage:
                wait_on_migration(lab, target, migration, timeout_s, "defined (prepare step)", _defined)
            else:
                wait_on_migration(lab, target, migration, timeout_s, "running (switchover over)", _running)
                wait_on_migration(lab, source, migration, timeout_s, "gone (libvirt's job completed)", _gone)
            if errors:  # the migration's command failed: moving the storage too would only hide it
                threads["guest"].join()
                raise errors[0]
            threads["nfs"].start()
            if switchover_in_outage:
                wait_for(
                    "the NFS port closed on the old server",
                    timeout_s,
                    lambda: nfs_port_closed(lab) or not threads["nfs"].is_alive(),
                    every_s=1,
                )
        finally:
            if switchover_in_outage:
                set_migration_speed(lab, source, FREE_MIBS)
    for thread in threads.values():
        if thread.ident is None:
            thread.start()
    for thread in threads.values():
        thread.join()
    if errors:
        raise errors[0]
    return [results[what] for what in moves]


HELD_MIBS = 1  # a migration this slow cannot converge: its switchover waits until the limit is lifted
FREE_MIBS = 8_796_093_022_207  # libvirt's largest speed for QEMU: no limit


def set_migration_speed(lab: Lab, vnode: str, mibs: int) -> None:
    """The guest's migration bandwidth on `vnode`, also while its migration runs; nothing if it is gone."""
    lab.ssh(vnode, f"sudo virsh migrate-setspeed {LIBVIRT.domain} --bandwidth {mibs} 2>/dev/null || true")


def other_node(lab: Lab, role: str, node: str) -> str:
    [peer] = [n.name for n in lab.config.nodes(role) if n.name != node]
    return peer


def nfs_port_closed(lab: Lab) -> bool:
    """The NFS group's unblock is no longer started anywhere: clients meet a closed port."""
    return not cluster_state(lab, "nas").where(RESOURCES.nfs_gate)


def _defined(conn: libvirt.virConnect) -> bool:
    return hypervisor.guest_active(conn)


def _running(conn: libvirt.virConnect) -> bool:
    return hypervisor.guest_state(conn) == "running"


def _gone(conn: libvirt.virConnect) -> bool:
    return not hypervisor.guest_active(conn)


def wait_on_migration(
    lab: Lab,
    vnode: str,
    migration: threading.Thread,
    timeout_s: int,
    what: str,
    done: Callable[[libvirt.virConnect], bool],
) -> None:
    """Until `done` holds for libvirt on `vnode`, or the migration's command ended (either way).

    The destination defines the domain in the prepare step, which comes after the source's
    first step (libvirt's MigrateBegin3, where QEMU queries its block devices): from then on
    the source no longer needs the guest's storage to start the migration, only to finish it.
    The guest runs on the destination a few seconds before libvirt's job completed on the
    source: waiting for both leaves the switchover's own freeze well clear of the NFS move.
    """
    conn = hypervisor.connect(lab.ssh_command(), vnode)
    try:
        wait_for(
            f"the guest's migration: {what} on {vnode}",
            timeout_s,
            lambda: not migration.is_alive() or done(conn),
            every_s=0.5,
        )
    except WaitTimeout as err:
        migration.join()
        raise WaitTimeout(f"{err}; the NFS move was not started") from err
    finally:
        conn.close()


def wait_idle(lab: Lab, timeout_s: int) -> None:
    """Until neither cluster has actions to run and DRBD is Connected and UpToDate on both sides."""
    for role in ("hv", "nas"):
        lab.ssh(control_node(lab, role), f"sudo crm_resource --wait --timeout={timeout_s}s")

    def drbd_healthy() -> bool:
        states = drbd_states(lab)
        if not all(state.healthy for state in states.values()):
            raise NotYet(f"DRBD {states}")
        return True

    wait_for("DRBD Connected and UpToDate/UpToDate", timeout_s, drbd_healthy, every_s=2)


def leftover_constraints(lab: Lab) -> dict[str, list[Location]]:
    """Per cluster, the cli-prefer/cli-ban/drbd-fence-by-handler constraints still in its CIB."""
    return {
        role: leftovers(locations_from_cib(lab.ssh(control_node(lab, role), "sudo cibadmin --query -o constraints")))
        for role in ("hv", "nas")
    }


def remove_constraints(lab: Lab, found: dict[str, list[Location]]) -> None:
    for role, locations in found.items():
        for location in locations:
            # cibadmin, as provisioning pushes the CIB: pcs would spend its start-up time on a TCG node.
            element = shlex.quote(f'<rsc_location id="{location.id}"/>')
            lab.ssh(control_node(lab, role), f"sudo cibadmin --delete --xml-text {element}")


def reach(lab: Lab, placement: Placement, timeout_s: int, progress: Callable[[str], None] = print) -> Placement:
    """Put the lab in `placement` (unmeasured), moving what is elsewhere; leave no constraint behind."""
    wait_idle(lab, timeout_s)  # a cluster still probing or recovering has no placement to read yet
    now = current(lab)
    moves = {}
    if now.guest != placement.guest:
        moves["guest"] = placement.guest
    if now.nfs != placement.nfs:
        moves["nfs"] = placement.nfs
    if moves:
        progress(f"  placement {now} -> {placement} (unmeasured)")
        move(lab, moves, timeout_s)
    wait_idle(lab, timeout_s)
    remove_constraints(lab, leftover_constraints(lab))
    reached = current(lab)
    if reached != placement:
        raise LabError(f"asked for placement {placement}, the clusters put things at {reached}")
    return reached
