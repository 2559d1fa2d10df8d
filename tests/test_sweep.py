"""What a destroy sweeps from libvirt: the lab's own leftovers, read so that a failed listing
cannot pass for an empty one."""

from __future__ import annotations

import subprocess
from pathlib import Path

import libvirt
import pytest

from harness.config.lab import LabConfig, LabConfigError
from harness.host import network

POOL_XML = "<pool type='dir'><name>{name}</name><target><path>{path}</path></target></pool>"
VOLUME_XML = "<volume><name>{name}</name><capacity unit='KiB'>64</capacity></volume>"


def test_a_destroy_sweeps_the_labs_volumes_and_no_other(conn: libvirt.virConnect, tmp_path: Path) -> None:
    pool = conn.storagePoolCreateXML(POOL_XML.format(name="default", path=tmp_path), 0)
    try:
        lab, other = LabConfig(name="halab"), LabConfig(name="otherlab")
        for name in (f"{lab.domain_prefix}vnode2.img", f"{other.domain_prefix}vnode2.img", "box_image.img"):
            pool.createXML(VOLUME_XML.format(name=name), 0)
        assert network.sweep_volumes(lab) == [f"volume {lab.domain_prefix}vnode2.img"]
        assert sorted(network.pool_volumes("default")) == ["box_image.img", f"{other.domain_prefix}vnode2.img"]
    finally:
        for volume in pool.listAllVolumes():
            volume.delete(0)
        pool.destroy()


def test_without_the_pool_there_is_nothing_to_sweep(conn: libvirt.virConnect) -> None:
    assert network.pool_volumes("no-such-pool") == {}


def test_a_virsh_listing_that_fails_is_an_error_not_an_empty_list(monkeypatch: pytest.MonkeyPatch) -> None:
    failed = subprocess.CompletedProcess(["virsh"], 1, "", "error: command 'vol-list' doesn't support option --name")
    monkeypatch.setattr(network, "virsh", lambda *args: failed)
    with pytest.raises(LabConfigError, match=r"virsh net-list --all --name failed: .*--name.*doctor --fix"):
        network.network_ranges()
