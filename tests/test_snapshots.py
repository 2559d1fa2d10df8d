"""Whole-lab snapshots against libvirt's own test driver: the real API and its state rules,
four domains that only pretend to run."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import libvirt
import pytest

from harness.config.lab import LabConfig
from harness.host import snapshots
from harness.host.snapshots import SnapshotError

TEST_URI = "test:///default"  # one driver state per process, kept while a connection is open


@pytest.fixture
def conn(monkeypatch: pytest.MonkeyPatch) -> Iterator[libvirt.virConnect]:
    monkeypatch.setattr(snapshots, "URI", TEST_URI)
    conn = libvirt.open(TEST_URI)
    yield conn
    for dom in conn.listAllDomains():
        if dom.name() != "test":  # the driver's own
            for snap in dom.listAllSnapshots():
                snap.delete()
            if dom.isActive():
                dom.destroy()
            dom.undefine()
    conn.close()


@pytest.fixture
def config(conn: libvirt.virConnect, tmp_path: Path) -> LabConfig:
    config = LabConfig(name="snap", state_root=tmp_path)
    for node in config.nodes():
        xml = f"<domain type='test'><name>{config.domain_prefix}{node.name}</name><memory>1024</memory>"
        conn.defineXML(xml + "<os><type>hvm</type></os></domain>").create()
    return config


def domains(conn: libvirt.virConnect, config: LabConfig) -> dict[str, libvirt.virDomain]:
    return {n.name: conn.lookupByName(f"{config.domain_prefix}{n.name}") for n in config.nodes()}


def states(conn: libvirt.virConnect, config: LabConfig) -> dict[str, int]:
    return {node: dom.state()[0] for node, dom in domains(conn, config).items()}


def running(conn: libvirt.virConnect, config: LabConfig) -> dict[str, int]:
    return dict.fromkeys(states(conn, config), libvirt.VIR_DOMAIN_RUNNING)


def test_a_snapshot_is_taken_of_every_node_paused_and_leaves_them_running(
    conn: libvirt.virConnect, config: LabConfig
) -> None:
    steps = snapshots.take(config, "base", progress=lambda _line: None)
    assert set(steps) == {"pause", "resume", *(f"save {n.name}" for n in config.nodes())}
    for node, dom in domains(conn, config).items():
        snap = ET.fromstring(dom.snapshotLookupByName("base").getXMLDesc())
        # Saved while paused: every node was stopped before any was saved.
        assert snap.findtext("state") == "paused", node
        assert snap.findtext("description") == config.owner
    assert states(conn, config) == running(conn, config)
    [listed] = snapshots.listing(config)
    assert (listed.name, sorted(listed.nodes)) == ("base", sorted(n.name for n in config.nodes()))


def test_a_revert_restores_every_node_and_resumes_them(conn: libvirt.virConnect, config: LabConfig) -> None:
    snapshots.take(config, "base", progress=lambda _line: None)
    domains(conn, config)["nas1"].suspend()  # the lab moved on after the snapshot
    steps = snapshots.revert(config, "base", progress=lambda _line: None)
    assert {f"restore {n.name}" for n in config.nodes()} <= set(steps)
    assert states(conn, config) == running(conn, config)


def test_a_name_taken_on_one_node_is_refused_and_nothing_is_made(conn: libvirt.virConnect, config: LabConfig) -> None:
    domains(conn, config)["nas2"].snapshotCreateXML("<domainsnapshot><name>base</name></domainsnapshot>", 0)
    with pytest.raises(SnapshotError, match=r"exists on nas2.*snapshot --delete base"):
        snapshots.take(config, "base", progress=lambda _line: None)
    assert {node: dom.snapshotNum() for node, dom in domains(conn, config).items()} == {
        "vnode2": 0,
        "vnode3": 0,
        "nas1": 0,
        "nas2": 1,
    }
    assert states(conn, config) == running(conn, config)


def test_a_snapshot_missing_on_a_node_is_not_reverted_to(conn: libvirt.virConnect, config: LabConfig) -> None:
    snapshots.take(config, "base", progress=lambda _line: None)
    domains(conn, config)["vnode3"].snapshotLookupByName("base").delete()
    [listed] = snapshots.listing(config)
    assert "vnode3" not in listed.nodes
    domains(conn, config)["nas1"].suspend()
    with pytest.raises(SnapshotError, match="not on vnode3"):
        snapshots.revert(config, "base", progress=lambda _line: None)
    assert states(conn, config)["nas1"] == libvirt.VIR_DOMAIN_PAUSED  # nothing was touched


def test_a_lab_not_running_is_not_snapshotted(conn: libvirt.virConnect, config: LabConfig) -> None:
    domains(conn, config)["vnode2"].destroy()
    with pytest.raises(SnapshotError, match="not running: vnode2"):
        snapshots.take(config, "base", progress=lambda _line: None)
    assert all(dom.snapshotNum() == 0 for dom in domains(conn, config).values())


def test_a_lab_without_domains_is_refused_with_what_to_do(conn: libvirt.virConnect, tmp_path: Path) -> None:
    with pytest.raises(SnapshotError, match="no domain for vnode2, vnode3, nas1, nas2: run 'ha-lab up'"):
        snapshots.take(LabConfig(name="absent", state_root=tmp_path), "base")


@pytest.mark.parametrize("name", ["", "-x", "a b", "x" * 41, "../up"])
def test_a_bad_name_is_refused_before_libvirt_is_asked(name: str) -> None:
    with pytest.raises(SnapshotError, match="snapshot name"):
        snapshots.take(LabConfig(name="never"), name)


def test_delete_removes_it_everywhere_and_refuses_one_that_is_not_there(
    conn: libvirt.virConnect, config: LabConfig
) -> None:
    snapshots.take(config, "base", progress=lambda _line: None)
    assert snapshots.delete(config, "base") == [n.name for n in config.nodes()]
    assert snapshots.listing(config) == []
    with pytest.raises(SnapshotError, match="no snapshot 'base'"):
        snapshots.delete(config, "base")
