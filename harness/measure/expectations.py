"""What a scenario expects of its run: the one input of judging besides the run's record.

A move, a fault and a control each say here what must be true afterwards; `verdicts.judge`
holds the checks, so a new scenario adds expectations, never a branch in the judge.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.cluster.placement import Placement
from harness.config.budgets import Budget


@dataclass(frozen=True)
class Expectations:
    end: Placement  # where the guest and the NFS service must be afterwards
    budget: Budget
    restarts: int = 0  # 0: the guest lives through the run; 1: it is restarted once (its vnode died)
    migration: tuple[str, str] | None = None  # (source, target): the guest moves by live migration
    freeze_budget: bool = True  # False: the run's freeze is an NFS outage, judged by `resume_after_served_s`
    # Both moves at once: the NFS service's stop begins only after the migration's switchover...
    nfs_stop_after_switchover: bool = False
    # ...or the switchover lands inside the NFS outage, and the guest's vCPUs stay stopped until
    # the new server serves: they must run again within this many seconds of it serving.
    resume_after_served_s: float | None = None
    planted_freeze_ms: float | None = None  # a control's pause of the guest: the measured freeze must match it
