"""A lab broken on purpose is whole again after a revert to the kept provisioned state.

The negative control of the revert every move, fault and control starts from: the guest is
destroyed and left so (unmanaged, so Pacemaker does not restart it), the check that the lab
is whole must see it, and a revert must bring back a lab that passes that check.
"""

from __future__ import annotations

import pytest

from harness.cluster import placement
from harness.cluster.whole import WHOLE_TIMEOUT_S, problems, wait_whole
from harness.config.facts import LIBVIRT, RESOURCES
from harness.lab.handle import Lab
from harness.waiting import NotYet, wait_for

pytestmark = [pytest.mark.destructive]

SEEN_TIMEOUT_S = 180  # Pacemaker's next monitor of the guest, on a TCG vnode


def test_a_lab_whose_guest_was_destroyed_is_whole_again_after_a_revert(lab: Lab) -> None:
    if lab.provisioned() is None:
        pytest.skip("this lab stands on no kept provisioned state: 'ha-lab destroy', then a run that brings it up")
    where = placement.cluster_state(lab, "hv").where(RESOURCES.guest)
    assert len(where) == 1, f"the run should start whole, the guest runs on {where}"
    founder = lab.config.founder("hv")
    lab.ssh(
        founder,
        f"sudo crm_resource --resource {RESOURCES.guest} --meta --set-parameter is-managed --parameter-value false",
    )
    lab.ssh(where[0], f"sudo virsh destroy {LIBVIRT.domain}")

    def broken_seen() -> bool:
        found = [p for p in problems(lab) if RESOURCES.guest in p]
        if not found:
            raise NotYet("the wholeness check does not name the guest yet")
        lab.progress(f"lab: broken on purpose, seen as: {'; '.join(found)}")
        return True

    wait_for("the destroyed guest seen by the wholeness check", SEEN_TIMEOUT_S, broken_seen, every_s=10)
    steps = lab.revert_to_provisioned()
    took = wait_whole(lab, WHOLE_TIMEOUT_S)
    lab.progress(f"lab: whole {took:.0f} s after the revert (restore {steps.get('restore', 0):.0f} s)")
    managed = lab.ssh(
        founder, f"sudo crm_resource --resource {RESOURCES.guest} --meta --get-parameter is-managed 2>&1 || true"
    )
    assert "false" not in managed, f"the revert left the guest unmanaged: {managed.strip()}"
