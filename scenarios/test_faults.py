"""Faults, with fencing on: a NAS or a vnode dies, the replication link breaks, a migration meets
nfsd's grace period. Measured and judged like the moves (same report); the struck node is powered
back on afterwards and the lab must be whole again before the next scenario.

Each starts from wherever the lab is and runs with the guest idle: a fault's cost is the
clusters' recovery, which the guest's memory load does not change.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from harness.measure.record import RunRecord
from harness.runs.faults import FAULTS, Fault

pytestmark = [pytest.mark.fault, pytest.mark.destructive]

Measure = Callable[[Fault, str], RunRecord]


def test_nas_crash(measured: Measure) -> None:
    """The survivor is promoted, the guest's disk stalls and resumes, no acknowledged record is lost."""
    measured(FAULTS["nas_crash"], "idle")


def test_hypervisor_crash(measured: Measure) -> None:
    """The guest cannot live through this: it is restarted on the other vnode (a new boot id), its disk intact."""
    measured(FAULTS["hypervisor_crash"], "idle")


def test_replication_cut(measured: Measure) -> None:
    """No split brain; the primary keeps serving; the peer resyncs to UpToDate once the link is back."""
    measured(FAULTS["replication_cut"], "idle")


def test_migrate_in_grace(measured: Measure) -> None:
    """A live migration started while the new nfsd is in its grace period: the guest lives, the lab recovers."""
    measured(FAULTS["migrate_in_grace"], "idle")
