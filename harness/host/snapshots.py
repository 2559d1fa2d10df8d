"""Whole-lab snapshots in libvirt: one consistent cut of the four nodes, and the way back to it.

All four are paused before any is saved and resumed only once all are saved (or restored), so
the nodes never see each other move on: DRBD's generations, corosync's membership and the NFS
client's session all come back as they were at one instant. Each node's cut is a libvirt
internal snapshot (memory and disks in the node's own qcow2 files): no disk is copied.
"""

from __future__ import annotations

import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from xml.sax.saxutils import escape

import libvirt

from harness.config.lab import LabConfig
from harness.errors import HarnessError

URI = "qemu:///system"
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,39}")


class SnapshotError(HarnessError):
    """A snapshot that cannot be taken or gone back to; the message says what to do."""


@dataclass(frozen=True)
class Snapshot:
    name: str
    created: float  # seconds since the epoch, as libvirt recorded it on the first node
    nodes: tuple[str, ...]  # the nodes that have it: a usable snapshot is on all of them


def check_name(name: str) -> str:
    if not NAME.fullmatch(name):
        raise SnapshotError(
            f"snapshot name {name!r}: use 1-40 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    return name


@contextmanager
def _connection() -> Iterator[libvirt.virConnect]:
    try:
        conn = libvirt.open(URI)
    except libvirt.libvirtError as err:
        raise SnapshotError(f"cannot reach libvirt at {URI} ({err}): run 'ha-lab doctor --fix'") from err
    try:
        yield conn
    finally:
        conn.close()


def _domains(conn: libvirt.virConnect, config: LabConfig) -> dict[str, libvirt.virDomain]:
    found, missing = {}, []
    for node in config.nodes():
        try:
            found[node.name] = conn.lookupByName(f"{config.domain_prefix}{node.name}")
        except libvirt.libvirtError:
            missing.append(node.name)
    if missing:
        raise SnapshotError(f"lab {config.name} has no domain for {', '.join(missing)}: run 'ha-lab up' first")
    return found


def _require_running(domains: dict[str, libvirt.virDomain]) -> None:
    stopped = [node for node, dom in domains.items() if dom.state()[0] != libvirt.VIR_DOMAIN_RUNNING]
    if stopped:
        raise SnapshotError(
            f"not running: {', '.join(stopped)}; a snapshot is a cut of a running lab (see 'ha-lab status')"
        )


def snapshot_xml(name: str, owner: str) -> str:
    return f"<domainsnapshot><name>{escape(name)}</name><description>{escape(owner)}</description></domainsnapshot>"


def _created(snap: libvirt.virDomainSnapshot) -> float:
    return float(ET.fromstring(snap.getXMLDesc()).findtext("creationTime") or 0)


def listing(config: LabConfig) -> list[Snapshot]:
    """The lab's snapshots, oldest first, each with the nodes that have it."""
    with _connection() as conn:
        domains = _domains(conn, config)
        nodes: dict[str, list[str]] = {}
        created: dict[str, float] = {}
        for node, dom in domains.items():
            for snap in dom.listAllSnapshots():
                nodes.setdefault(snap.getName(), []).append(node)
                created.setdefault(snap.getName(), _created(snap))
    return sorted((Snapshot(name, created[name], tuple(held)) for name, held in nodes.items()), key=lambda s: s.created)


@contextmanager
def _all_paused(domains: dict[str, libvirt.virDomain], timings: dict[str, float]) -> Iterator[None]:
    """Pause every node, and resume every one that was paused here, whatever happens between."""
    started = time.monotonic()
    paused = []
    try:
        for dom in domains.values():
            if dom.state()[0] == libvirt.VIR_DOMAIN_RUNNING:
                dom.suspend()
                paused.append(dom)
        timings["pause"] = round(time.monotonic() - started, 2)
        yield
    finally:
        started = time.monotonic()
        for dom in domains.values():
            if dom.state()[0] == libvirt.VIR_DOMAIN_PAUSED:
                dom.resume()
        timings["resume"] = round(time.monotonic() - started, 2)


def take(config: LabConfig, name: str, progress: Callable[[str], None] = print) -> dict[str, float]:
    """Snapshot the running lab as `name`: all nodes paused, each saved, all resumed. A failure
    part-way removes what was made, so a name is on all four nodes or on none."""
    check_name(name)
    timings: dict[str, float] = {}
    with _connection() as conn:
        domains = _domains(conn, config)
        _require_running(domains)
        taken = [node for node, dom in domains.items() if name in dom.snapshotListNames()]
        if taken:
            raise SnapshotError(
                f"snapshot {name!r} exists on {', '.join(taken)}: pick another name, or remove it with "
                f"'ha-lab snapshot --delete {name}'"
            )
        made: list[libvirt.virDomainSnapshot] = []
        with _all_paused(domains, timings):
            try:
                for node, dom in domains.items():
                    started = time.monotonic()
                    progress(f"lab: saving {node} ...")
                    made.append(dom.snapshotCreateXML(snapshot_xml(name, config.owner), 0))
                    timings[f"save {node}"] = round(time.monotonic() - started, 2)
            except libvirt.libvirtError as err:
                for snap in made:
                    snap.delete()
                raise SnapshotError(f"snapshot {name!r} failed on {node} ({err}); nothing was kept") from err
    return timings


def revert(config: LabConfig, name: str, progress: Callable[[str], None] = print) -> dict[str, float]:
    """Bring every node back to snapshot `name`, each restored paused, then all resumed together."""
    check_name(name)
    timings: dict[str, float] = {}
    with _connection() as conn:
        domains = _domains(conn, config)
        lacking = [node for node, dom in domains.items() if name not in dom.snapshotListNames()]
        if lacking:
            raise SnapshotError(
                f"snapshot {name!r} is not on {', '.join(lacking)}: 'ha-lab snapshots' lists the ones this lab has"
            )
        with _all_paused(domains, timings):
            for node, dom in domains.items():
                started = time.monotonic()
                progress(f"lab: restoring {node} ...")
                try:
                    dom.revertToSnapshot(dom.snapshotLookupByName(name), libvirt.VIR_DOMAIN_SNAPSHOT_REVERT_PAUSED)
                except libvirt.libvirtError as err:
                    raise SnapshotError(
                        f"revert of {node} to {name!r} failed ({err}); the lab is part-reverted: revert again, "
                        f"or 'ha-lab destroy' and 'ha-lab up'"
                    ) from err
                timings[f"restore {node}"] = round(time.monotonic() - started, 2)
    return timings


def delete(config: LabConfig, name: str) -> list[str]:
    """Remove snapshot `name` from every node that has it; the nodes it was removed from."""
    check_name(name)
    removed = []
    with _connection() as conn:
        for node, dom in _domains(conn, config).items():
            if name in dom.snapshotListNames():
                dom.snapshotLookupByName(name).delete()
                removed.append(node)
    if not removed:
        raise SnapshotError(f"lab {config.name} has no snapshot {name!r}: 'ha-lab snapshots' lists them")
    return removed
