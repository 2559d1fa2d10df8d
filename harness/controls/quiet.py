"""A control's window: the lab as it is, quiet, then the planted fault, then the lab left whole."""

from __future__ import annotations

from collections.abc import Callable

from harness import placement, window
from harness.lab import Lab
from harness.moves import move_timeout_s
from harness.observer import Observer
from harness.placement import Placement
from harness.run_record import RunRecord


def prepare(lab: Lab, observer: Observer, run: RunRecord) -> Placement:
    """The lab idle and without leftovers, the guest's load set and its disk writing; where things are."""
    run.kind = "control"
    timeout_s = move_timeout_s(run.accel)
    placement.wait_idle(lab, timeout_s)
    placement.remove_constraints(lab, placement.leftover_constraints(lab))
    before = placement.current(lab)
    run.before = before
    observer.set_load(run.load_mibs)
    run.ack_before = window.wait_for_disk_progress(observer, timeout_s=120)
    return before


def measure(
    lab: Lab,
    observer: Observer,
    run: RunRecord,
    label: str,
    strike: Callable[[], None],
    end: Placement,
    progress: Callable[[str], None],
    migrated_to: str | None = None,
) -> None:
    clusters = {role: placement.control_node(lab, role) for role in ("hv", "nas")}
    window.record(lab, observer, run, clusters, label, strike, progress)
    window.collect(lab, run, end, migrated_to)


PID_FILE = "/run/libvirt/qemu/guest.pid"  # libvirt's: the guest's QEMU found by its pid, never by a name


def guest_pid_command(signal: str) -> str:
    """Signal the guest's QEMU on this vnode."""
    return f"sudo sh -c 'kill -{signal} \"$(cat {PID_FILE})\"'"
