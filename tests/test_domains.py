"""The lab's node states read from libvirt (its test driver here), not from Vagrant."""

from __future__ import annotations

from pathlib import Path

import libvirt
import pytest

from harness.config.lab import LabConfig
from harness.host import domains
from tests.test_snapshots import define_nodes


def test_each_node_state_comes_from_its_domain(conn: libvirt.virConnect, tmp_path: Path) -> None:
    config = LabConfig(name="states", state_root=tmp_path / "state")
    define_nodes(conn, config, tmp_path / "images")
    conn.lookupByName(f"{config.domain_prefix}vnode3").suspend()
    conn.lookupByName(f"{config.domain_prefix}nas2").destroy()
    conn.lookupByName(f"{config.domain_prefix}nas2").undefine()
    conn.lookupByName(f"{config.domain_prefix}nas1").destroy()
    assert domains.states(config) == {
        "vnode2": "running",
        "vnode3": "paused",
        "nas1": "shut off",
        "nas2": "not created",
    }


def test_libvirt_out_of_reach_says_what_to_do(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(domains, "URI", "qemu+unix:///system?socket=/nonexistent/libvirt-sock")
    with pytest.raises(domains.HarnessError, match="ha-lab doctor --fix"):
        domains.states(LabConfig(name="states", state_root=tmp_path / "state"))
