"""Reading a fault's recovery off the timeline: the watchers' changes and the survivor's journal."""

from __future__ import annotations

import re
from collections.abc import Callable

from harness.lab.handle import Lab
from harness.lab.ssh import LabError
from harness.measure.record import RunRecord
from harness.runs.faults.fault import Strike


def first_change(run: RunRecord, match: Callable[[str, str, str], bool]) -> float | None:
    """Seconds from the strike to the first change (source, key, new value) that matches."""
    for change in run.changes:
        if change.host_ns >= run.started_ns and match(change.source, change.key, change.new):
            return round((change.host_ns - run.started_ns) / 1e9, 1)
    return None


def crashed(s: Strike, run: RunRecord, survivor: str) -> dict[str, float | None]:
    """A crash's first steps: the survivor's cluster saw the victim offline, then fenced it."""
    assert s.victim is not None
    victim, lab = s.victim, s.lab
    return {
        "detected_s": first_change(run, lambda _s, key, new: key == f"node {victim}" and new == "offline"),
        "fenced_s": fenced_at(lab, victim, survivor, run),
    }


def heartbeats_back(run: RunRecord) -> dict[str, float | None]:
    """After a restart: seconds from the strike to the new boot's first heartbeat."""
    a = run.analysis
    if a is None or len(a.boot_ids) < 2:
        return {}
    reborn = next((s for s in run.samples if s.hb.boot_id == a.boot_ids[-1]), None)
    return {"heartbeats_back_s": round((reborn.host_ns - run.started_ns) / 1e9, 1) if reborn else None}


def fenced_at(lab: Lab, victim: str, survivor: str, run: RunRecord) -> float | None:
    """When the survivor's fencer reported the victim fenced, from its journal (microseconds).

    Not `stonith_admin --history`: once the fenced node rejoins, the survivor's history
    no longer lists the fencing.
    """
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
