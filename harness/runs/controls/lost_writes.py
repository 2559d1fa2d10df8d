"""Lost writes: the export switched to `async` on the serving NAS, then that NAS powered off mid-write.

An async export acknowledges writes still in the NAS's page cache; the crash loses them and
the verifier must name them by number. The new server's exports are the cluster's (sync), so
the lab heals itself. A crash may land when the cache is clean: tried up to `tries` times.
"""

from __future__ import annotations

from harness.cluster import placement
from harness.cluster.placement import Placement
from harness.config.facts import NFS, PATHS
from harness.judging.verdicts import RECORDS
from harness.measure.expectations import Expectations
from harness.runs.controls.control import Control, Setting
from harness.runs.faults import FAULTS, run_fault

# The cluster's own export options, with async in place of sync.
ASYNC = ",".join(["async" if o == "sync" else o for o in NFS.export_options.split(",")] + [f"fsid={NFS.fsid}"])


def run(s: Setting) -> Expectations:
    clients = s.lab.config.hypervisor_clients  # the cluster's one export, as its clientspec names the vnodes

    def plant(before: Placement) -> None:
        s.progress(
            f"  control lost_writes: the export on {before.nfs} switched to async, then {before.nfs} powered off"
        )
        # In place, as the kernel's export table: the cluster's exportfs monitor still finds the export.
        s.lab.ssh(before.nfs, f"sudo exportfs -o {ASYNC} {clients}:{PATHS.export}")

    expect = run_fault(s.lab, s.observer, FAULTS["nas_crash"], s.record, s.budget, s.progress, plant)
    placement.remove_constraints(s.lab, placement.leftover_constraints(s.lab))
    return expect


CONTROL = Control(
    "lost_writes", "an async export and a crash of its NAS", frozenset({RECORDS}), run, budget_of="nas_crash", tries=3
)
