"""A node powered off hard, the survivor taking over, the node powered on again: inside the window."""

from __future__ import annotations

from collections.abc import Callable

from harness.cluster.placement import Placement, other_node
from harness.config.facts import RESOURCES
from harness.lab.handle import Lab
from harness.runs.faults.fault import Strike
from harness.runs.faults.power import power_off
from harness.runs.faults.recovery import repair, serves, wait_for_new_boot
from harness.waiting import wait_for


def crash_plan(role: str) -> Callable[[Lab, Placement], tuple[str | None, Placement]]:
    """Strike the node of `role` that serves now; its service must end on the other one."""

    def plan(lab: Lab, before: Placement) -> tuple[str | None, Placement]:
        victim = before.guest if role == "hv" else before.nfs
        survivor = other_node(lab, role, victim)
        return victim, Placement(survivor, before.nfs) if role == "hv" else Placement(before.guest, survivor)

    return plan


def crash_strike(role: str) -> Callable[[Strike], None]:
    """Power the victim off, wait for the survivor to serve (and a crashed vnode's guest to boot again), repair."""
    return lambda s: crash_and_repair(s, role, s.expected.guest if role == "hv" else s.expected.nfs, role == "hv")


def crash_and_repair(s: Strike, role: str, survivor: str, guest_restarts: bool) -> None:
    assert s.victim is not None
    power_off(s.lab, s.victim)
    s.undo.append(lambda: repair(s, role))
    wait_for(f"{role} service back on {survivor}", s.timeout_s, lambda: serves(s.lab, role, survivor))
    s.lab.ssh(survivor, f"sudo crm_resource --wait --timeout={s.timeout_s}s")
    if guest_restarts:
        wait_for_new_boot(s.observer, s.old_boot, s.timeout_s)
        count_refused_starts(s, survivor)
    s.observer.mark("recovered")
    repair(s, role)
    s.undo.clear()
    s.observer.mark("lab whole again")


def count_refused_starts(s: Strike, survivor: str) -> None:
    """The guest's starts the survivor refused while the dead QEMU's NFS lock lived (the cluster retries
    them: start-failure-is-fatal=false), counted in the run, then cleared so the lab is clean again."""
    guest = RESOURCES.guest
    out = s.lab.ssh(survivor, f"sudo crm_failcount --query --quiet --resource {guest} --node {survivor}").strip()
    refused = int(out) if out.isdigit() else 0
    s.run.events["guest_starts_refused"] = float(refused)
    if refused:
        s.run.notes.append(
            f"the guest's start on {survivor} was refused {refused} time(s) and retried: the crashed vnode's "
            "NFSv4 lock on the image lives until the NFS lease ends"
        )
        s.lab.ssh(survivor, f"sudo crm_resource --cleanup --resource {guest} --node {survivor}")
