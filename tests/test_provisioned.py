"""The kept provisioned lab: its key, kept and restored on a host that no longer has the lab
(libvirt's test driver, real qcow2 disks), and pruned."""

from __future__ import annotations

import json
import shutil
import stat
import xml.etree.ElementTree as ET
from pathlib import Path

import libvirt
import pytest

from harness.config.lab import LabConfig
from harness.host.guest_image import GuestImage
from harness.lab import provisioned
from tests.test_snapshots import define_nodes, holds, mgmt_mac, write

QUIET = {"progress": lambda _line: None}


def image(key: str) -> GuestImage:
    return GuestImage(Path("/k"), Path("/i"), [], key)


def test_the_key_changes_with_lab_json_the_guest_and_each_provisioning_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = tmp_path / "provision" / "node" / "nas-node.sh"
    script.parent.mkdir(parents=True)
    script.write_text("echo one\n")
    monkeypatch.setattr(provisioned, "REPO", tmp_path)
    monkeypatch.setattr(provisioned, "RECIPE", (tmp_path / "provision",))
    lab_json = tmp_path / "lab.json"
    lab_json.write_text('{"name": "halab"}')
    first = provisioned.recipe_key(lab_json, image("g1"))
    assert provisioned.recipe_key(lab_json, image("g1")) == first
    assert provisioned.recipe_key(lab_json, image("g2")) != first
    script.write_text("echo two\n")
    second = provisioned.recipe_key(lab_json, image("g1"))
    assert second != first
    lab_json.write_text('{"name": "other"}')
    assert provisioned.recipe_key(lab_json, image("g1")) not in (first, second)


@pytest.fixture
def lab(conn: libvirt.virConnect, tmp_path: Path) -> LabConfig:
    """A lab as libvirt and the state folder hold it after a bring-up."""
    config = LabConfig(name="kept", state_root=tmp_path / "state")
    for index, (kind, name) in enumerate(config.network_names.items()):
        net = conn.networkDefineXML(
            f"<network><name>{name}</name><bridge name='virbr-{kind}'/>"
            f"<ip address='10.9{index}.0.1' netmask='255.255.255.0'>"
            f"<dhcp><range start='10.9{index}.0.2' end='10.9{index}.0.254'/></dhcp></ip></network>"
        )
        net.create()
    define_nodes(conn, config, tmp_path / "images", mgmt=True)
    state = config.state_dir
    (state / "secrets").mkdir(parents=True)
    (state / "secrets" / "hacluster").write_text("s3cret")
    (state / "lab.json").write_text('{"name": "kept"}')
    (state / "ssh_config").write_text(
        "".join(f"Host {n.name}\n  HostName 10.92.0.{10 + i}\n" for i, n in enumerate(config.nodes()))
    )
    (state / "logs").mkdir()
    (state / "logs" / "vagrant.log").write_text("not kept")
    return config


def test_a_kept_lab_is_made_again_where_libvirt_no_longer_has_it(
    conn: libvirt.virConnect, lab: LabConfig, tmp_path: Path
) -> None:
    nas1 = tmp_path / "images" / "nas1.img"
    write(nas1, 0xAB)
    entry = provisioned.Entry("k1")
    provisioned.keep(lab.state_dir, lab, entry, **QUIET)
    assert entry.complete and json.loads((entry.folder / provisioned.DONE).read_text())["lab"] == "kept"
    assert (entry.folder / "state.tar").stat().st_mode & 0o777 == 0o600
    # The lab destroyed: domains, networks, disks and state folder gone.
    write(nas1, 0xCD)
    for node in lab.nodes():
        dom = conn.lookupByName(f"{lab.domain_prefix}{node.name}")
        dom.destroy()
        dom.undefine()
        (tmp_path / "images" / f"{node.name}.img").unlink()
    for name in lab.network_names.values():
        net = conn.networkLookupByName(name)
        net.destroy()
        net.undefine()
    shutil.rmtree(lab.state_dir)
    steps = provisioned.restore(lab.state_dir, lab, entry, **QUIET)
    assert {"define", "restore"} <= set(steps)
    assert all(conn.networkLookupByName(n).isActive() for n in lab.network_names.values())
    for node in lab.nodes():
        assert conn.lookupByName(f"{lab.domain_prefix}{node.name}").state()[0] == libvirt.VIR_DOMAIN_RUNNING
    assert holds(nas1, 0xAB) and not holds(nas1, 0xCD)
    assert (lab.state_dir / "secrets" / "hacluster").read_text() == "s3cret"
    # A network defined anew has no DHCP leases to tell Vagrant the nodes' addresses ...
    assert "HostName 10.92.0.10" in (lab.state_dir / "ssh_config").read_text()
    # ... and gives each node the address the kept SSH config names, should it ask again.
    mgmt = ET.fromstring(conn.networkLookupByName(lab.network_names["mgmt"]).XMLDesc(0))
    pinned = {h.get("name"): (h.get("mac"), h.get("ip")) for h in mgmt.iter("host")}
    assert pinned == {n.name: (mgmt_mac(i), f"10.92.0.{10 + i}") for i, n in enumerate(lab.nodes())}
    assert not (lab.state_dir / "logs").exists()  # the old lab's logs are not the new one's


def test_prune_keeps_the_newest_of_each_lab_and_any_a_disk_stands_on(
    conn: libvirt.virConnect, lab: LabConfig, tmp_path: Path
) -> None:
    old, new = provisioned.Entry("old"), provisioned.Entry("new")
    provisioned.keep(lab.state_dir, lab, old, **QUIET)  # the lab now stands on "old"
    provisioned.keep(lab.state_dir, lab, new, **QUIET)  # ... and on "new", which stands on "old"
    cut_short = provisioned.Entry("cut")
    cut_short.folder.mkdir(parents=True)
    assert provisioned.prune(provisioned.newest_of_each_lab()) == [str(cut_short.folder)]
    assert provisioned.prune(lambda key: False) == []  # both in use
    for node in lab.nodes():  # the lab destroyed
        dom = conn.lookupByName(f"{lab.domain_prefix}{node.name}")
        dom.destroy()
        dom.undefine()
    # "new" was kept while the lab stood on "old": its frozen disks still do.
    assert provisioned.prune(provisioned.newest_of_each_lab()) == []
    assert sorted(provisioned.prune(lambda key: False)) == sorted([str(old.folder), str(new.folder)])
    assert provisioned.entries() == []


def test_the_state_comes_back_as_private_as_it_was_kept(tmp_path: Path) -> None:
    """A kept lab's secrets folder is 0700 again after a restore, its keys 0600, nothing else widened."""
    kept, back = tmp_path / "kept", tmp_path / "back"
    (kept / "secrets").mkdir(parents=True, mode=0o700)
    (kept / "secrets").chmod(0o700)
    (kept / "secrets" / "hacluster").write_text("pw")
    (kept / "secrets" / "hacluster").chmod(0o600)
    (kept / "lab.json").write_text("{}")
    archive = tmp_path / "state.tar"
    provisioned.pack_state(kept, archive)
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600
    back.mkdir()
    provisioned.unpack_state(archive, back)
    assert stat.S_IMODE((back / "secrets").stat().st_mode) == 0o700
    assert stat.S_IMODE((back / "secrets" / "hacluster").stat().st_mode) == 0o600
    assert (back / "lab.json").read_text() == "{}"
