"""Lost writes: the export switched to `async` on the serving NAS, then that NAS powered off mid-write.

An async export acknowledges writes still in the NAS's page cache; the crash loses them and
the verifier must name them by number. The new server's exports are the cluster's (sync), so
the lab heals itself. A crash may land when the cache is clean: tried up to `tries` times.
"""

from __future__ import annotations

from collections.abc import Callable

from harness import placement
from harness.budgets import Budget
from harness.controls.control import Control
from harness.expectations import Expectations
from harness.faults import FAULTS, run_fault
from harness.lab import Lab
from harness.observer import Observer
from harness.placement import Placement
from harness.run_record import RunRecord
from harness.verdicts import RECORDS

ASYNC = "rw,async,no_root_squash,no_subtree_check,fsid=1"
EXPORT = "/srv/nfs/export"


def run(
    lab: Lab, observer: Observer, record: RunRecord, budget: Budget, progress: Callable[[str], None]
) -> Expectations:
    clients = [lab.config.lab_ip(n.offset) for n in lab.config.nodes("hv")]

    def plant(before: Placement) -> None:
        progress(f"  control lost_writes: the export on {before.nfs} switched to async, then {before.nfs} powered off")
        for client in clients:
            # In place, as the kernel's export table: the cluster's exportfs monitor still finds the export.
            lab.ssh(before.nfs, f"sudo exportfs -o {ASYNC} {client}:{EXPORT}")

    expect = run_fault(lab, observer, FAULTS["nas_crash"], record, budget, progress, plant)
    placement.remove_constraints(lab, placement.leftover_constraints(lab))
    return expect


CONTROL = Control(
    name="lost_writes",
    what="an async export and a crash of its NAS",
    catches=frozenset({RECORDS}),
    run=run,
    budget_of="nas_crash",
    tries=3,
)
