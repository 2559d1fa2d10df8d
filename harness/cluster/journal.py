"""Every operation a node's controller ran, from its journal: notifies and monitors too, which the CIB's
status keeps only the last of (and the breakdown of a NAS move needs, to name what fills its gaps)."""

from __future__ import annotations

import re
from dataclasses import dataclass

# `journalctl -u pacemaker -o short-unix` on the node that ran them.
_LINE = re.compile(
    r"^(?P<t>\d+\.\d+) \S+ pacemaker-controld\[\d+\]:\s+\w+: "
    r"(?:Requesting local execution of (?P<start_op>\w+) operation for (?P<start_rsc>\S+) on \S+$"
    r"|Result of (?P<end_op>\w+) operation for (?P<end_rsc>\S+) on \S+: (?P<result>.+)$)"
)
FINE = ("ok", "promoted", "not running")  # "not running": a probe's or a stop's expected answer


@dataclass(frozen=True)
class RanOp:
    resource: str
    operation: str
    started_s: float  # the node's clock
    ended_s: float
    result: str

    @property
    def ok(self) -> bool:
        return self.result in FINE


def ran_ops(journal: str) -> list[RanOp]:
    """Each "Requesting local execution" paired with the next "Result of" the same operation, in start order.

    A result without its request (the request was before the journal's window) is left out, as
    is a request whose result had not come when the journal was read.
    """
    waiting: dict[tuple[str, str], list[float]] = {}
    ops: list[RanOp] = []
    for line in journal.splitlines():
        m = _LINE.match(line)
        if m is None:
            continue
        at = float(m["t"])
        if m["start_op"]:
            waiting.setdefault((m["start_rsc"], m["start_op"]), []).append(at)
        elif queue := waiting.get((m["end_rsc"], m["end_op"])):
            ops.append(RanOp(m["end_rsc"], m["end_op"], queue.pop(0), at, m["result"].strip()))
    return sorted(ops, key=lambda o: o.started_s)
