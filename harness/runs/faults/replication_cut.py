"""All DRBD traffic dropped on the primary's replication link, then mended: no split brain, a resync."""

from __future__ import annotations

import shlex
import time

from harness.cluster import placement
from harness.cluster.placement import Placement
from harness.config.timings import TIMINGS
from harness.lab.handle import Lab
from harness.lab.ssh import LabError
from harness.measure.record import RunRecord
from harness.runs.faults.fault import Fault, Strike
from harness.runs.faults.reading import first_change


def plan(lab: Lab, before: Placement) -> tuple[str | None, Placement]:
    return None, before


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


def mend_link(lab: Lab, node: str, interface: str) -> None:
    for rule in cut_rules(interface):
        lab.ssh(node, f"sudo sh -c {shlex.quote(f'while iptables -D {rule} 2>/dev/null; do :; done')}")


def cut_seconds(accel: str) -> float:
    """Long enough for DRBD to give up on its peer (ping timeout) and the handler to run, twice over."""
    return max(60.0, 4 * TIMINGS[accel].drbd_ping_timeout_ds / 10)


def strike(s: Strike) -> None:
    node = s.before.nfs
    interface = replication_interface(s.lab, node)
    s.undo.append(lambda: mend_link(s.lab, node, interface))
    for rule in cut_rules(interface):
        s.lab.ssh(node, f"sudo iptables -I {rule}")
    time.sleep(cut_seconds(s.run.accel))
    s.observer.mark("replication link mended")
    mend_link(s.lab, node, interface)
    s.undo.clear()
    placement.wait_idle(s.lab, s.timeout_s)


def events(run: RunRecord, s: Strike) -> dict[str, float | None]:
    primary = s.expected.nfs
    lost = first_change(run, lambda src, key, new: src == f"drbd {primary}" and key == "connection"
                        and new != "Connected")  # fmt: skip
    back = first_change(run, lambda src, key, new: src == f"drbd {primary}" and key == "connection"
                        and new == "Connected")  # fmt: skip
    return {"peer_lost_s": lost, "reconnected_s": back if lost is not None else None}


FAULT = Fault(
    "replication_cut",
    "nas",
    True,
    "drop all DRBD traffic on the primary's replication link, then mend it",
    plan,
    strike,
    events,
)
