"""DRBD 8.4's view of one resource, as /proc/drbd shows it on a node."""

from __future__ import annotations

import re
from dataclasses import dataclass

_LINE = re.compile(r"^\s*(?P<minor>\d+):\s+cs:(?P<cs>\S+)(?:\s+ro:(?P<ro>\S+))?(?:\s+ds:(?P<ds>\S+))?", re.MULTILINE)


@dataclass(frozen=True)
class DrbdState:
    connection: str  # Connected, WFConnection, StandAlone, SyncSource, …, Unconfigured
    role: str  # this node: Primary, Secondary, Unknown
    peer_role: str
    disk: str  # this node: UpToDate, Inconsistent, Outdated, Diskless, …
    peer_disk: str

    @property
    def healthy(self) -> bool:
        """Connected and both disks UpToDate: a move or a failure may happen now."""
        return self.connection == "Connected" and self.disk == "UpToDate" and self.peer_disk == "UpToDate"


def parse_proc_drbd(text: str, minor: int = 0) -> DrbdState:
    """The state of one minor; a minor the kernel does not list is Unconfigured."""
    for match in _LINE.finditer(text):
        if int(match["minor"]) != minor:
            continue
        role, _, peer_role = (match["ro"] or "Unknown/Unknown").partition("/")
        disk, _, peer_disk = (match["ds"] or "Diskless/DUnknown").partition("/")
        return DrbdState(match["cs"], role, peer_role, disk, peer_disk)
    return DrbdState("Unconfigured", "Unknown", "Unknown", "Diskless", "DUnknown")
