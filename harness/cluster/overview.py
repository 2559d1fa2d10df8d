"""`ha-lab status` beyond the nodes' states: what a newcomer asks first. Each line is read on
its own; one that cannot be read says why instead of hiding the others."""

from __future__ import annotations

import functools
from collections.abc import Callable

from harness.cluster import placement
from harness.cluster.state import ClusterState
from harness.config.facts import RESOURCES
from harness.errors import HarnessError
from harness.host import fencing
from harness.lab.handle import Lab


def _line(label: str, read: Callable[[], str]) -> str:
    try:
        value = read()
    except (HarnessError, OSError, ValueError, KeyError) as err:
        value = f"unknown ({err})"
    return f"{label:<12} {value}"


def _drbd(lab: Lab) -> str:
    states = placement.drbd_states(lab)
    return ", ".join(f"{node} {s.role} {s.disk} ({s.connection})" for node, s in states.items()) or "no NAS node up"


def _fencing(lab: Lab, state: Callable[[str], ClusterState]) -> str:
    pids = fencing.running_pids(lab.state_dir)
    parts = []
    for role in fencing.ROLES:
        daemon = f"fence_virtd pid {pids[role]}" if role in pids else "fence_virtd NOT running ('ha-lab up' starts it)"
        device = f"{RESOURCES.fence}{role}"
        parts.append(f"{role}: {daemon}, {device} on {_where(state(role), device)}")
    return "; ".join(parts)


def _where(state: ClusterState, resource: str) -> str:
    return ", ".join(state.where(resource)) or "nowhere"


def overview(lab: Lab, last_run: Callable[[], str]) -> list[str]:
    """Accelerator, where the guest and the NFS service run, DRBD, fencing, the newest run (read by
    `last_run`: run files are judging's, a layer above this one)."""
    # Each cluster's crm_mon once (an SSH call, seconds on a TCG node); a failed read is tried again.
    state = functools.cache(lambda role: placement.cluster_state(lab, role))
    return [
        _line("accelerator", lab.accel),
        _line("guest on", lambda: _where(state("hv"), RESOURCES.guest)),
        _line("NFS on", lambda: _where(state("nas"), RESOURCES.nfs_server)),
        _line("DRBD", lambda: _drbd(lab)),
        _line("fencing", lambda: _fencing(lab, state)),
        _line("last run", last_run),
    ]
