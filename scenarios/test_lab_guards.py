"""A second lab on this host may not take the running lab's name or subnets; nothing is changed."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.config.lab import LabConfig, LabConfigError
from harness.host import network as host_network
from harness.lab.handle import Lab
from harness.lab.ssh import LabError

pytestmark = [pytest.mark.smoke]


def libvirt_inventory() -> tuple[str, str]:
    return host_network.virsh("list", "--all", "--name").stdout, host_network.virsh(
        "net-list", "--all", "--name"
    ).stdout


def test_a_taken_name_is_refused(lab: Lab) -> None:
    before = libvirt_inventory()
    twin = LabConfig(name=lab.config.name, subnet="10.201.0.0/24", state_root=lab.config.state_root / "guards")
    with pytest.raises(LabConfigError, match="is taken"):
        host_network.check_free(twin)
    assert libvirt_inventory() == before


def test_a_used_subnet_is_refused(lab: Lab) -> None:
    before = libvirt_inventory()
    neighbour = LabConfig(name="neighbour", subnet=lab.config.subnet, state_root=lab.config.state_root / "guards")
    with pytest.raises(LabConfigError, match="is used by libvirt network"):
        host_network.check_free(neighbour)
    assert libvirt_inventory() == before


def test_a_lab_that_is_not_up_is_reported_as_such(lab: Lab) -> None:
    absent = Lab(LabConfig(name="absent", subnet="10.202.0.0/24", state_root=lab.config.state_root / "guards"))
    with pytest.raises(LabError, match=r"not running \(not created\): run .ha-lab up. first"):
        absent.require_running()


def test_a_destroy_from_another_state_folder_is_refused(lab: Lab, tmp_path: Path) -> None:
    """Another checkout or runner with the same lab name must not take this lab's domains."""
    before = libvirt_inventory()
    stranger = Lab(LabConfig(name=lab.config.name, subnet=lab.config.subnet, state_root=tmp_path))
    with pytest.raises(LabConfigError, match=rf"lab '{lab.config.name}': not made from {tmp_path}"):
        stranger.destroy()
    assert libvirt_inventory() == before
    assert lab.status() and all(state == "running" for state in lab.status().values())
