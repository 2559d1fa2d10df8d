"""A control's window: the lab as it is, quiet, then the planted fault (after `window.prepare`)."""

from __future__ import annotations

from collections.abc import Callable

from harness import window
from harness.lab import Lab
from harness.observer import Observer
from harness.placement import Placement
from harness.run_record import RunRecord


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
    window.record(lab, observer, run, label, strike, progress)
    window.collect(lab, run, end, migrated_to)


PID_FILE = "/run/libvirt/qemu/guest.pid"  # libvirt's: the guest's QEMU found by its pid, never by a name


def guest_pid_command(signal: str) -> str:
    """Signal the guest's QEMU on this vnode."""
    return f"sudo sh -c 'kill -{signal} \"$(cat {PID_FILE})\"'"
