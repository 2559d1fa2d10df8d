"""A disk that never returns: the NFS port blocked from the guest's vnode for the rest of the window.

With a hard mount the guest's writes block rather than fail: no error, heartbeats go on.
Only the "disk resumed" verdict can see it.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable

from harness import window
from harness.budgets import Budget
from harness.controls.control import Control
from harness.controls.quiet import measure
from harness.expectations import Expectations
from harness.lab import Lab
from harness.observer import Observer
from harness.run_record import RunRecord
from harness.verdicts import DISK_RESUMED

DISK_BACK_S = 600.0  # after the port opens again, the hard mount's retries bring the disk back


def rule(vip: str) -> str:
    return f"OUTPUT -d {vip} -p tcp --dport 2049 -j DROP"


def run(
    lab: Lab, observer: Observer, record: RunRecord, budget: Budget, progress: Callable[[str], None]
) -> Expectations:
    before = window.prepare(lab, observer, record, "control")
    blocked = rule(lab.config.vip)

    def strike() -> None:
        progress(f"  control disk_gone: NFS blocked from {before.guest} until the window ends")
        lab.ssh(before.guest, f"sudo iptables -I {blocked}")

    try:
        measure(lab, observer, record, "NFS port blocked from the guest's vnode", strike, before, progress)
    finally:
        lab.ssh(before.guest, f"sudo sh -c {shlex.quote(f'while iptables -D {blocked} 2>/dev/null; do :; done')}")
        progress("  control disk_gone: NFS open again; waiting for the guest's disk")
        window.wait_for_disk_progress(observer, timeout_s=DISK_BACK_S)
    return Expectations(end=before, budget=budget)


CONTROL = Control(
    name="disk_gone",
    what="a disk that never came back",
    catches=frozenset({DISK_RESUMED}),
    run=run,
)
