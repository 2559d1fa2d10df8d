"""The NFS service moved, and the guest live-migrated while the new nfsd is in its grace period."""

from __future__ import annotations

import threading

from harness.cluster import placement
from harness.cluster.placement import Placement, other_node
from harness.config.facts import RESOURCES
from harness.config.timings import TIMINGS
from harness.lab.handle import Lab
from harness.measure.record import RunRecord
from harness.runs.faults.fault import Fault, Strike
from harness.waiting import wait_for


def plan(lab: Lab, before: Placement) -> tuple[str | None, Placement]:
    return None, Placement(other_node(lab, "hv", before.guest), other_node(lab, "nas", before.nfs))


def strike(s: Strike) -> None:
    """Start the NAS move; once the new nfsd runs (in its grace period), start the migration."""
    errors: list[BaseException] = []
    lab, run, expected = s.lab, s.run, s.expected

    def nas_move() -> None:
        try:
            run.commands += placement.move(lab, {"nfs": expected.nfs}, s.timeout_s)
        except BaseException as err:
            errors.append(err)

    thread = threading.Thread(target=nas_move)
    thread.start()
    try:
        wait_for(
            f"nfsd started on {expected.nfs}",
            s.timeout_s,
            lambda: placement.cluster_state(lab, "nas").where(RESOURCES.nfs_server) == [expected.nfs],
            every_s=TIMINGS[run.accel].crm_mon_poll_s,
        )
        s.observer.mark("nfsd started: grace begins, migration requested")
        s.progress(f"  nfsd runs on {expected.nfs}: migrating the guest to {expected.guest} during its grace")
        run.commands += placement.move(lab, {"guest": expected.guest}, s.timeout_s)
    finally:
        thread.join()
    if errors:
        raise errors[0]
    placement.wait_idle(lab, s.timeout_s)


def events(run: RunRecord, s: Strike) -> dict[str, float | None]:
    return {}


FAULT = Fault(
    "migrate_in_grace",
    "hv",
    True,
    "move the NFS service, and live-migrate the guest while nfsd is in grace",
    plan,
    strike,
    events,
    migrates=True,
)
