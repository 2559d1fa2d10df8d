"""The faults: a node dies, the replication link breaks, a migration meets nfsd's grace period.

Each fault starts from wherever the lab is (a NAS move costs minutes on TCG; a
fault needs no particular start), strikes, waits for the clusters to recover with
the struck node still down, then repairs the lab as an operator would (power the
node back on, mend the link) and waits for it to be whole again, all inside the
measured window (`window.record`): the guest is judged through the repair too.
The times of detection, fencing, promotion and recovery are read off that timeline.
"""

from __future__ import annotations

import re
import shlex
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from harness import host_network, placement, window
from harness.budgets import Budget
from harness.expectations import Expectations
from harness.lab import Lab, LabError
from harness.lab_config import TIMINGS
from harness.moves import move_timeout_s
from harness.observer import Observer
from harness.placement import Placement
from harness.run_record import RunRecord
from harness.waiting import wait_for


@dataclass(frozen=True)
class Fault:
    name: str
    role: str  # the cluster it strikes
    guest_survives: bool  # a crashed hypervisor takes its guest with it; nothing else may
    what: str


FAULTS = {
    f.name: f
    for f in (
        Fault("nas_crash", "nas", True, "power off the NAS that serves NFS (a hard off, from the host)"),
        Fault("hypervisor_crash", "hv", False, "power off the vnode that runs the guest (a hard off, from the host)"),
        Fault("replication_cut", "nas", True, "drop all DRBD traffic on the primary's replication link, then mend it"),
        Fault(
            "migrate_in_grace", "hv", True, "move the NFS service, and live-migrate the guest while nfsd is in grace"
        ),
    )
}


def other(lab: Lab, role: str, node: str) -> str:
    [peer] = [n.name for n in lab.config.nodes(role) if n.name != node]
    return peer


def plan(lab: Lab, fault: Fault, before: Placement) -> tuple[str | None, Placement]:
    """The node the fault strikes (None: no node goes down) and where things must end up."""
    if fault.name == "nas_crash":
        return before.nfs, Placement(before.guest, other(lab, "nas", before.nfs))
    if fault.name == "hypervisor_crash":
        return before.guest, Placement(other(lab, "hv", before.guest), before.nfs)
    if fault.name == "replication_cut":
        return None, before
    return None, Placement(other(lab, "hv", before.guest), other(lab, "nas", before.nfs))


# --- what strikes, what repairs -------------------------------------------------------------------


def domain(lab: Lab, node: str) -> str:
    return f"{lab.config.domain_prefix}{node}"


def power_off(lab: Lab, node: str) -> None:
    """A hard power-off from the host (no shutdown): what a dead machine looks like to its peer."""
    done = host_network.virsh("destroy", domain(lab, node))
    if done.returncode != 0:
        raise LabError(f"virsh destroy {domain(lab, node)} failed: {done.stderr.strip()}")
    lab.down.add(node)


def power_on(lab: Lab, node: str, timeout_s: float) -> None:
    """Start the domain unless fencing already did, and wait until the node answers SSH."""
    if host_network.virsh("domstate", domain(lab, node)).stdout.strip() != "running":
        done = host_network.virsh("start", domain(lab, node))
        if done.returncode != 0:
            raise LabError(f"virsh start {domain(lab, node)} failed: {done.stderr.strip()}")

    def answers_ssh() -> bool:
        lab.ssh(node, "true")  # raises LabError until the node's sshd answers
        return True

    wait_for(f"{node} answering SSH after its power-on", timeout_s, answers_ssh, every_s=5)
    lab.down.discard(node)


def replication_interface(lab: Lab, node: str) -> str:
    """The interface holding the node's replication address (DRBD's link to its peer)."""
    offset = next(n.offset for n in lab.config.nodes("nas") if n.name == node)
    address = lab.config.replication_ip(offset)
    found = lab.ssh(node, f"ip -o -4 addr show to {address}").split()
    if len(found) < 2:
        raise LabError(f"{node} has no interface with its replication address {address}")
    return found[1]


def cut_rules(interface: str) -> list[str]:
    return [f"INPUT -i {interface} -j DROP", f"OUTPUT -o {interface} -j DROP"]


def cut_link(lab: Lab, node: str) -> str:
    interface = replication_interface(lab, node)
    for rule in cut_rules(interface):
        lab.ssh(node, f"sudo iptables -I {rule}")
    return interface


def mend_link(lab: Lab, node: str, interface: str) -> None:
    for rule in cut_rules(interface):
        lab.ssh(node, f"sudo sh -c {shlex.quote(f'while iptables -D {rule} 2>/dev/null; do :; done')}")


# --- waiting for the clusters ---------------------------------------------------------------------


def serves(lab: Lab, role: str, node: str) -> bool:
    state = placement.cluster_state(lab, role)
    if role == "hv":
        return state.where(placement.GUEST) == [node]
    return state.where("nfs_unblock") == [node] and state.where(placement.DRBD, role="Promoted") == [node]


def rejoined(lab: Lab, role: str) -> bool:
    state = placement.cluster_state(lab, role)
    return sorted(state.online) == sorted(n.name for n in lab.config.nodes(role))


# --- the run --------------------------------------------------------------------------------------


def run_fault(
    lab: Lab,
    observer: Observer,
    fault: Fault,
    run: RunRecord,
    budget: Budget,
    progress: Callable[[str], None] = print,
) -> Expectations:
    """Strike, recover, repair, measure; fill `run` as it goes. Returns what the run must show."""
    timeout_s = move_timeout_s(run.accel)
    run.kind = "fault"
    placement.wait_idle(lab, timeout_s)
    placement.remove_constraints(lab, placement.leftover_constraints(lab))
    before = placement.current(lab)
    victim, expected = plan(lab, fault, before)
    run.before = before
    observer.set_load(run.load_mibs)
    run.ack_before = window.wait_for_disk_progress(observer, timeout_s=120)
    old_boot = observer.samples[-1].hb.boot_id
    clusters = {role: placement.control_node(lab, role) for role in ("hv", "nas")}
    if victim is not None:
        clusters[fault.role] = other(lab, fault.role, victim)
    cut: tuple[str, str] | None = None
    repaired = False

    def strike() -> None:
        nonlocal cut, repaired
        progress(f"  {fault.name}: {fault.what}; {before} -> {expected}")
        if fault.name in ("nas_crash", "hypervisor_crash"):
            assert victim is not None
            power_off(lab, victim)
            survivor = expected.nfs if fault.role == "nas" else expected.guest
            wait_for(f"{fault.role} service back on {survivor}", timeout_s, lambda: serves(lab, fault.role, survivor))
            lab.ssh(survivor, f"sudo crm_resource --wait --timeout={timeout_s}s")
            if not fault.guest_survives:
                wait_for_new_boot(observer, old_boot, timeout_s)
            observer.mark("recovered")
            _repair(lab, fault, victim, run, timeout_s, progress)
            repaired = True
            observer.mark("lab whole again")
        elif fault.name == "replication_cut":
            cut = (before.nfs, cut_link(lab, before.nfs))
            time.sleep(cut_seconds(run.accel))
            observer.mark("replication link mended")
            mend_link(lab, *cut)
            cut = None
            placement.wait_idle(lab, timeout_s)
        else:
            _migrate_in_grace(lab, observer, before, expected, run, timeout_s, progress)

    try:
        window.record(lab, observer, run, clusters, f"{fault.name} struck", strike, progress)
        window.collect(lab, run, expected, expected.guest if fault.name == "migrate_in_grace" else None)
        run.events = fault_events(run, fault, victim, expected, lab) | run.events
    finally:
        if cut is not None:
            mend_link(lab, *cut)
        if victim is not None and not repaired:
            _repair(lab, fault, victim, run, timeout_s, progress)
    return Expectations(
        end=expected,
        budget=budget,
        restarts=0 if fault.guest_survives else 1,
        migration=(before.guest, expected.guest) if fault.name == "migrate_in_grace" else None,
    )


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


def cut_seconds(accel: str) -> float:
    """Long enough for DRBD to give up on its peer (ping timeout) and the handler to run, twice over."""
    return max(60.0, 4 * TIMINGS[accel].drbd_ping_timeout_ds / 10)


def _migrate_in_grace(
    lab: Lab,
    observer: Observer,
    before: Placement,
    expected: Placement,
    run: RunRecord,
    timeout_s: int,
    progress: Callable[[str], None],
) -> None:
    """Start the NAS move; once the new nfsd runs (in its grace period), start the migration."""
    errors: list[BaseException] = []

    def nas_move() -> None:
        try:
            run.commands += placement.move(lab, {"nfs": expected.nfs}, timeout_s)
        except BaseException as err:
            errors.append(err)

    thread = threading.Thread(target=nas_move)
    thread.start()
    try:
        wait_for(
            f"nfsd started on {expected.nfs}",
            timeout_s,
            lambda: placement.cluster_state(lab, "nas").where("nfs_server") == [expected.nfs],
            every_s=TIMINGS[run.accel].crm_mon_poll_s,
        )
        observer.mark("nfsd started: grace begins, migration requested")
        progress(f"  nfsd runs on {expected.nfs}: migrating the guest to {expected.guest} during its grace")
        run.commands += placement.move(lab, {"guest": expected.guest}, timeout_s)
    finally:
        thread.join()
    if errors:
        raise errors[0]
    placement.wait_idle(lab, timeout_s)


def _repair(
    lab: Lab, fault: Fault, victim: str, run: RunRecord, timeout_s: int, progress: Callable[[str], None]
) -> None:
    """Power the struck node back on (fencing left it off), wait until both clusters are whole again."""
    started = time.monotonic()
    progress(f"  {fault.name}: powering {victim} back on")
    power_on(lab, victim, timeout_s)
    wait_for(f"{victim} back in its cluster", timeout_s, lambda: rejoined(lab, fault.role))
    placement.wait_idle(lab, timeout_s)
    run.events["repair_s"] = round(time.monotonic() - started, 1)


# --- reading the timeline -------------------------------------------------------------------------


def fault_events(
    run: RunRecord, fault: Fault, victim: str | None, expected: Placement, lab: Lab
) -> dict[str, float | None]:
    """Seconds from the strike to each step of the recovery, from the watchers' changes and the guest."""

    def first(match: Callable[[str, str, str], bool]) -> float | None:
        for change in run.changes:
            if change.host_ns >= run.started_ns and match(change.source, change.key, change.new):
                return round((change.host_ns - run.started_ns) / 1e9, 1)
        return None

    events: dict[str, float | None] = {}
    if victim is not None:
        events["detected_s"] = first(lambda _s, key, new: key == f"node {victim}" and new == "offline")
        events["fenced_s"] = fenced_at(lab, victim, run)
    if fault.name == "replication_cut":
        primary = expected.nfs
        events["peer_lost_s"] = first(
            lambda src, key, new: src == f"drbd {primary}" and key == "connection" and new != "Connected"
        )
        lost = events["peer_lost_s"]
        events["reconnected_s"] = (
            first(lambda src, key, new: src == f"drbd {primary}" and key == "connection" and new == "Connected")
            if lost is not None
            else None
        )
    elif fault.role == "nas":
        survivor = expected.nfs
        events["promoted_s"] = first(
            lambda src, key, new: src == f"drbd {survivor}" and key == "role" and new == "Primary"
        )
        events["served_s"] = first(
            lambda src, key, new: src == "nas" and key == "nfs_unblock" and new == f"Started {survivor}"
        )
    else:
        events["guest_started_s"] = first(
            lambda src, key, new: src == "hv" and key == "guest" and new == f"Started {expected.guest}"
        )
    a = run.analysis
    if a is not None and len(a.boot_ids) > 1:
        reborn = next((s for s in run.samples if s.hb.boot_id == a.boot_ids[-1]), None)
        events["heartbeats_back_s"] = round((reborn.host_ns - run.started_ns) / 1e9, 1) if reborn else None
    return events


def fenced_at(lab: Lab, victim: str, run: RunRecord) -> float | None:
    """When the survivor's fencer reported the victim fenced, from its journal (microseconds).

    Not `stonith_admin --history`: on the lab, the history the survivor kept after the
    fenced node rejoined no longer listed the fencing of the crash.
    """
    survivor = other(lab, lab.config.role_of(victim), victim)
    since = run.started_ns // 1_000_000_000 - 1
    try:
        text = lab.ssh(survivor, f"sudo journalctl -o short-unix --no-pager --since @{since} -t pacemaker-fenced")
    except LabError:
        return None
    return fenced_from_journal(text, victim, run.started_ns, run.clock_offsets_ms.get(survivor, 0.0))


FENCED = re.compile(
    r"^(?P<at>\d+\.\d+) \S+ pacemaker-fenced\[\d+\]:.*Operation '(?:reboot|off)' targeting (?P<node>\S+) by .*: OK"
)


def fenced_from_journal(text: str, victim: str, started_ns: int, offset_ms: float) -> float | None:
    """Seconds from `started_ns` to the first successful fencing of `victim` in a short-unix journal."""
    for line in text.splitlines():
        match = FENCED.match(line)
        if match and match["node"] == victim:
            host_ns = int(float(match["at"]) * 1e9) - int(offset_ms * 1e6)
            if host_ns >= started_ns:
                return round((host_ns - started_ns) / 1e9, 1)
    return None
