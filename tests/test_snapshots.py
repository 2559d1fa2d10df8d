"""Whole-lab snapshots against libvirt's own test driver (the real API and its state rules, four
domains that only pretend to run) and real qcow2 disks (qemu-img, qemu-io): what a node wrote
after a snapshot is gone after a revert, what it wrote before is still there."""

from __future__ import annotations

import json
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import libvirt
import pytest

from harness.config.lab import LabConfig
from harness.host import snapshots
from harness.host.snapshots import SnapshotError

TEST_URI = "test:///default"  # one driver state per process, kept while a connection is open
QUIET = {"progress": lambda _line: None}


def qemu_io(disk: Path, command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["qemu-io", "-c", command, str(disk)], capture_output=True, text=True, check=False)


def write(disk: Path, pattern: int) -> None:
    done = qemu_io(disk, f"write -P {pattern} 0 64k")
    assert done.returncode == 0, done.stderr


def holds(disk: Path, pattern: int) -> bool:
    """The first 64 KiB read back as `pattern` (qemu-io fails a read whose pattern differs)."""
    done = qemu_io(disk, f"read -P {pattern} 0 64k")
    assert "Could not open" not in done.stderr, done.stderr
    return done.returncode == 0 and "Pattern verification failed" not in done.stdout


def clean(conn: libvirt.virConnect) -> None:
    """The test driver as it starts: only its own domain ("test") and network ("default")."""
    for dom in conn.listAllDomains():
        if dom.name() != "test":
            if dom.isActive():
                dom.destroy()
            dom.undefine()
    for net in conn.listAllNetworks():
        if net.name() != "default":
            if net.isActive():
                net.destroy()
            net.undefine()


def mgmt_mac(index: int) -> str:
    return f"52:54:00:00:00:{index:02x}"


def define_nodes(conn: libvirt.virConnect, config: LabConfig, images: Path, mgmt: bool = False) -> None:
    """The lab's four domains, running, each on a 16 MiB qcow2 disk of its own in `images`
    (and with `mgmt` on the lab's management network, the n-th node with mgmt_mac(n))."""
    images.mkdir()
    for index, node in enumerate(config.nodes()):
        nic = (
            f"<interface type='network'><mac address='{mgmt_mac(index)}'/>"
            f"<source network='{config.network_names['mgmt']}'/></interface>"
            if mgmt
            else ""
        )
        disk = images / f"{node.name}.img"
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk), "16M"], check=True)
        conn.defineXML(
            f"<domain type='test'><name>{config.domain_prefix}{node.name}</name><memory>1024</memory>"
            "<os><type>hvm</type></os><devices>"
            f"<disk type='file' device='disk'><source file='{disk}'/><target dev='vda'/></disk>"
            "<disk type='file' device='cdrom'><source file='/nonexistent.iso'/><target dev='hdc'/></disk>"
            f"{nic}</devices></domain>"
        ).create()


@pytest.fixture
def config(conn: libvirt.virConnect, tmp_path: Path) -> LabConfig:
    config = LabConfig(name="snap", state_root=tmp_path / "state")
    define_nodes(conn, config, tmp_path / "images")
    return config


def disk(config: LabConfig, node: str, tmp_path: Path) -> Path:
    return tmp_path / "images" / f"{node}.img"


def states(conn: libvirt.virConnect, config: LabConfig) -> dict[str, int]:
    return {n.name: conn.lookupByName(f"{config.domain_prefix}{n.name}").state()[0] for n in config.nodes()}


def all_running(config: LabConfig) -> dict[str, int]:
    return {n.name: libvirt.VIR_DOMAIN_RUNNING for n in config.nodes()}


def backing(path: Path) -> str:
    info = subprocess.run(["qemu-img", "info", "-U", "--output=json", str(path)], capture_output=True, check=True)
    return str(json.loads(info.stdout).get("backing-filename", ""))


def test_a_snapshot_freezes_every_disk_and_leaves_the_nodes_running_on_overlays(
    conn: libvirt.virConnect, config: LabConfig, tmp_path: Path
) -> None:
    write(disk(config, "nas1", tmp_path), 0xAB)
    folder = snapshots.lab_folder(config) / "base"
    steps = snapshots.take(config, folder, **QUIET)
    assert {"pause", "freeze disks", "restore", *(f"save {n.name}" for n in config.nodes())} <= set(steps)
    assert states(conn, config) == all_running(config)
    [snap] = snapshots.listing(config)
    assert snap.name == "base" and sorted(snap.nodes) == sorted(n.name for n in config.nodes())
    for node in config.nodes():
        path = disk(config, node.name, tmp_path)
        [frozen] = snap.disks[node.name].values()  # the CD-ROM is not a disk of the node's
        assert backing(path) == frozen and Path(frozen).parent == folder
        assert snap.memory(node.name).exists()
    assert holds(disk(config, "nas1", tmp_path), 0xAB)  # the overlay shows what was written before
    assert folder.stat().st_mode & 0o777 == 0o711


def test_a_revert_drops_what_was_written_since_and_resumes_every_node(
    conn: libvirt.virConnect, config: LabConfig, tmp_path: Path
) -> None:
    nas1 = disk(config, "nas1", tmp_path)
    write(nas1, 0xAB)
    snapshots.take(config, snapshots.lab_folder(config) / "base", **QUIET)
    write(nas1, 0xCD)  # the lab moves on after the snapshot
    conn.lookupByName(f"{config.domain_prefix}vnode3").destroy()
    steps = snapshots.revert(config, snapshots.find(config, "base"), **QUIET)
    assert {"stop and fresh disks", "restore"} <= set(steps)
    assert holds(nas1, 0xAB) and not holds(nas1, 0xCD)
    assert states(conn, config) == all_running(config)


def test_a_node_that_cannot_be_restored_stops_the_whole_lab_with_what_to_do(
    conn: libvirt.virConnect, config: LabConfig
) -> None:
    snapshots.take(config, snapshots.lab_folder(config) / "base", **QUIET)
    snap = snapshots.find(config, "base")
    last = snap.nodes[-1]
    snap.memory(last).write_bytes(b"not a saved domain")  # as QEMU refusing a vCPU saved in guest mode
    with pytest.raises(SnapshotError, match=rf"restoring {last} .* 'ha-lab destroy' then 'ha-lab up'"):
        snapshots.revert(config, snap, **QUIET)
    assert set(states(conn, config).values()) == {libvirt.VIR_DOMAIN_SHUTOFF}  # no half lab left running


def test_a_taken_name_is_refused_and_nothing_changes(conn: libvirt.virConnect, config: LabConfig) -> None:
    folder = snapshots.lab_folder(config) / "base"
    folder.mkdir(parents=True)
    with pytest.raises(SnapshotError, match="exists: pick another name"):
        snapshots.take(config, folder, **QUIET)
    assert list(folder.iterdir()) == []
    assert states(conn, config) == all_running(config)


def test_a_lab_not_running_is_not_snapshotted(conn: libvirt.virConnect, config: LabConfig) -> None:
    conn.lookupByName(f"{config.domain_prefix}vnode2").destroy()
    folder = snapshots.lab_folder(config) / "base"
    with pytest.raises(SnapshotError, match="not running: vnode2"):
        snapshots.take(config, folder, **QUIET)
    assert not folder.exists()


def test_a_lab_without_domains_is_refused_with_what_to_do(conn: libvirt.virConnect, tmp_path: Path) -> None:
    absent = LabConfig(name="absent", state_root=tmp_path)
    with pytest.raises(SnapshotError, match="no domain for vnode2, vnode3, nas1, nas2: run 'ha-lab up'"):
        snapshots.take(absent, snapshots.lab_folder(absent) / "base")


def test_an_incomplete_snapshot_is_not_reverted_to(conn: libvirt.virConnect, config: LabConfig, tmp_path: Path) -> None:
    snapshots.take(config, snapshots.lab_folder(config) / "base", **QUIET)
    snap = snapshots.find(config, "base")
    snap.memory("vnode3").unlink()
    write(disk(config, "nas1", tmp_path), 0xCD)
    with pytest.raises(SnapshotError, match=r"incomplete.*vnode3\.save"):
        snapshots.revert(config, snap, **QUIET)
    assert holds(disk(config, "nas1", tmp_path), 0xCD)  # nothing was touched
    assert states(conn, config) == all_running(config)


def test_a_snapshot_a_disk_stands_on_is_kept_and_a_later_one_goes(conn: libvirt.virConnect, config: LabConfig) -> None:
    snapshots.take(config, snapshots.lab_folder(config) / "one", **QUIET)
    snapshots.take(config, snapshots.lab_folder(config) / "two", **QUIET)
    with pytest.raises(SnapshotError, match="holds the frozen disks"):
        snapshots.delete(config, snapshots.find(config, "one"))  # "two" and the lab stand on it
    with pytest.raises(SnapshotError, match="holds the frozen disks"):
        snapshots.delete(config, snapshots.find(config, "two"))  # the lab runs on it
    snapshots.revert(config, snapshots.find(config, "one"), **QUIET)
    snapshots.delete(config, snapshots.find(config, "two"))
    assert [s.name for s in snapshots.listing(config)] == ["one"]
    assert states(conn, config) == all_running(config)


def test_a_snapshot_outside_the_root_is_refused(conn: libvirt.virConnect, config: LabConfig, tmp_path: Path) -> None:
    with pytest.raises(SnapshotError, match="snapshots live under"):
        snapshots.take(config, tmp_path / "elsewhere", **QUIET)


@pytest.mark.parametrize("name", ["", "-x", "a b", "x" * 41, "../up"])
def test_a_bad_name_is_refused(name: str) -> None:
    with pytest.raises(SnapshotError, match="snapshot name"):
        snapshots.check_name(name)


def test_only_writable_disks_are_frozen() -> None:
    xml = ET.tostring(
        ET.fromstring(
            "<domain><devices>"
            "<disk type='file' device='disk'><source file='/a.img'/></disk>"
            "<disk type='file' device='disk'><source file='/ro.img'/><readonly/></disk>"
            "<disk type='file' device='cdrom'><source file='/c.iso'/></disk>"
            "<disk type='block' device='disk'><source dev='/dev/sdb'/></disk>"
            "</devices></domain>"
        ),
        encoding="unicode",
    )
    assert snapshots.disk_files(xml) == ["/a.img"]


LIVE = """<domain><devices>
<disk type='file' device='disk'><source file='/img/nas1-vdb.qcow2'/>{backing}<target dev='vdb'/></disk>
</devices></domain>"""


def test_a_saved_domains_disk_chains_are_left_for_libvirt_to_read_from_the_images() -> None:
    saved = LIVE.format(backing="<backingStore/>")
    changed = snapshots.without_backing_chains(saved)
    assert changed is not None and "backingStore" not in changed and "/img/nas1-vdb.qcow2" in changed
    assert snapshots.without_backing_chains(LIVE.format(backing="")) is None  # nothing to change


def test_a_restored_disk_that_skips_its_frozen_file_is_caught() -> None:
    frozen = {"/img/nas1-vdb.qcow2": "/snap/nas1-1.qcow2"}
    # What QEMU ran on 2026-12-03: the saved XML's empty chain, so the overlay alone (zeros).
    assert snapshots.chain_problems(LIVE.format(backing="<backingStore/>"), frozen) == [
        "/img/nas1-vdb.qcow2 stands on nothing, not on /snap/nas1-1.qcow2"
    ]
    good = "<backingStore type='file'><format type='qcow2'/><source file='/snap/nas1-1.qcow2'/></backingStore>"
    assert snapshots.chain_problems(LIVE.format(backing=good), frozen) == []
