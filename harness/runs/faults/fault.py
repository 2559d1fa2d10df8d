"""What a fault is: where it strikes, the strike itself, and the recovery steps it reads off the timeline."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from harness.cluster.placement import Placement
from harness.lab.handle import Lab
from harness.measure.record import RunRecord
from harness.probe.observer import Observer


@dataclass
class Strike:
    """Everything a strike needs, and what it leaves for the run to undo if it fails half-way."""

    lab: Lab
    observer: Observer
    run: RunRecord
    before: Placement
    victim: str | None  # the node struck down, if any
    expected: Placement  # where the services must end up
    timeout_s: int
    progress: Callable[[str], None]
    old_boot: str
    undo: list[Callable[[], None]] = field(default_factory=list)  # run after the window if still here


@dataclass(frozen=True)
class Fault:
    name: str
    role: str  # the cluster it strikes
    guest_survives: bool  # a crashed hypervisor takes its guest with it; nothing else may
    what: str
    # The node the fault strikes (None: no node goes down) and where things must end up.
    plan: Callable[[Lab, Placement], tuple[str | None, Placement]]
    strike: Callable[[Strike], None]
    # Seconds from the strike to each recovery step, read off the run's changes.
    events: Callable[[RunRecord, Strike], dict[str, float | None]]
    migrates: bool = False  # the guest is live-migrated during the fault
