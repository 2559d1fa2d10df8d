"""A restart: the guest's QEMU killed, and Pacemaker restarting it.

The restart must be seen (a new boot), and the records the old boot acknowledged are
judged against the old boot's id, so a restarted probe's records cannot stand in for them.
"""

from __future__ import annotations

from harness.cluster import placement
from harness.config.facts import LIBVIRT, RESOURCES
from harness.judging.verdicts import SAME_BOOT
from harness.measure.expectations import Expectations
from harness.measure.window import move_timeout_s
from harness.runs.controls.control import Control, Setting
from harness.runs.faults import wait_for_new_boot

# libvirt's pid file: the guest's QEMU found by its pid, never by a name.
KILL = f"sudo sh -c 'kill -KILL \"$(cat {LIBVIRT.pid_file})\"'"


def run(s: Setting) -> Expectations:
    before = s.prepare()
    old_boot = s.observer.samples[-1].hb.boot_id
    timeout_s = move_timeout_s(s.record.accel)

    def strike() -> None:
        s.progress(f"  control restart: the guest's QEMU on {before.guest} killed; Pacemaker restarts it")
        s.lab.ssh(before.guest, KILL)
        wait_for_new_boot(s.observer, old_boot, timeout_s)
        placement.wait_idle(s.lab, timeout_s)

    try:
        s.measure("guest's QEMU killed", strike, before)
    finally:
        # The monitor's failure is the control's doing: later runs start clean.
        s.lab.ssh(placement.control_node(s.lab, "hv"), f"sudo crm_resource --cleanup --resource {RESOURCES.guest}")
    return Expectations(end=before, budget=s.budget)


CONTROL = Control("restart", "a guest killed and restarted", frozenset({SAME_BOOT}), run)
