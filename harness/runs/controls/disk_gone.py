"""A disk that never returns: the NFS port blocked from the guest's vnode for the rest of the window.

With a hard mount the guest's writes block rather than fail: no error, heartbeats go on.
Only the "disk resumed" verdict can see it.
"""

from __future__ import annotations

import shlex

from harness.config.facts import NFS
from harness.judging.verdicts import DISK_RESUMED
from harness.measure import window
from harness.measure.expectations import Expectations
from harness.runs.controls.control import Control, Setting

DISK_BACK_S = 600.0  # after the port opens again, the hard mount's retries bring the disk back


def rule(vip: str) -> str:
    return f"OUTPUT -d {vip} -p tcp --dport {NFS.port} -j DROP"


def run(s: Setting) -> Expectations:
    before = s.prepare()
    blocked = rule(s.lab.config.vip)
    unblock = shlex.quote(f"while iptables -D {blocked} 2>/dev/null; do :; done")

    def strike() -> None:
        s.progress(f"  control disk_gone: NFS blocked from {before.guest} until the window ends")
        s.lab.ssh(before.guest, f"sudo iptables -I {blocked}")

    try:
        s.measure("NFS port blocked from the guest's vnode", strike, before)
    finally:
        s.lab.ssh(before.guest, f"sudo sh -c {unblock}")
        s.progress("  control disk_gone: NFS open again; waiting for the guest's disk")
        window.wait_for_disk_progress(s.observer, timeout_s=DISK_BACK_S)
    return Expectations(end=before, budget=s.budget)


CONTROL = Control("disk_gone", "a disk that never came back", frozenset({DISK_RESUMED}), run)
