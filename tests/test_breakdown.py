"""A NAS move's stall broken down: the rows add up to the stall, gaps and overlaps counted once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cluster.journal import ran_ops
from harness.judging.breakdown import GAP, nas_breakdown, of_document, of_run
from harness.judging.json_report import write_run_json
from harness.judging.summary import summary_from_files
from harness.measure.record import Action
from tests.test_verdicts import MS, good_run

DATA = Path(__file__).parent / "data"

S = 1_000_000_000


def act(resource: str, node: str, operation: str, start_s: float, end_s: float) -> Action:
    return Action(resource, node, operation, 0, int(start_s * S), int(end_s * S))


def test_the_steps_add_up_to_the_stall_from_the_last_write_to_the_next() -> None:
    actions = [
        act("nfs_server", "nas2", "stop", 10, 50),
        act("drbd_r0", "nas2", "demote", 60, 62),
        act("drbd_r0", "nas1", "promote", 70, 75),
        act("nfs_server", "nas1", "start", 80, 130),
        act("nfs_ip", "nas1", "start", 131, 135),
        act("guest", "vnode2", "monitor", 100, 101),  # not in the chain
    ]
    writes = [int(t * S) for t in (1, 2, 9, 160, 161)]
    bd = nas_breakdown(actions, writes, after_ns=5 * S)
    assert bd is not None
    assert bd.stall_s == pytest.approx(151)  # 9 s -> 160 s
    assert sum(s.adds_s for s in bd.steps) == pytest.approx(bd.stall_s)
    assert [(s.what, s.adds_s) for s in bd.steps[:3]] == [
        (GAP, 1.0),
        ("nfs_server stop on nas2", 40.0),
        (GAP, 10.0),
    ]
    assert bd.steps[-1].what == "client reconnect (to the first write after)"
    assert bd.steps[-1].adds_s == pytest.approx(25)
    assert "| **disk stall** | | | **151.0** |" in bd.markdown()
    assert bd.by_kind() == pytest.approx(
        {"start": 54.0, "stop": 40.0, "reconnect": 25.0, "gap": 25.0, "promote": 5.0, "demote": 2.0}
    )


def test_after_the_gate_started_the_rest_is_the_clients_reconnect() -> None:
    actions = [act("nfs_ip", "nas1", "start", 10, 12), act("nfs_ip", "nas1", "monitor", 12, 15)]
    bd = nas_breakdown(actions, [0, 14 * S], after_ns=0)
    assert bd is not None
    assert [(s.what, s.adds_s) for s in bd.steps[-2:]] == [
        ("nfs_ip start on nas1", 2.0),
        ("client reconnect (to the first write after)", 2.0),
    ]


def test_overlapping_actions_count_once() -> None:
    actions = [act("nfs_export_vnode2", "nas1", "start", 10, 20), act("nfs_export_vnode3", "nas1", "start", 12, 25)]
    bd = nas_breakdown(actions, [0, 30 * S], after_ns=0)
    assert bd is not None
    second = bd.steps[2]
    assert (second.took_s, second.adds_s) == (13.0, 5.0)
    assert sum(s.adds_s for s in bd.steps) == pytest.approx(bd.stall_s) == pytest.approx(30)


def test_a_run_without_nfs_actions_has_no_breakdown() -> None:
    assert nas_breakdown([act("guest", "vnode3", "migrate_to", 1, 5)], [0, 10 * S], after_ns=0) is None


def test_a_disk_that_never_came_back_says_so() -> None:
    bd = nas_breakdown([act("nfs_server", "nas1", "start", 10, 20)], [5 * S], after_ns=0, until_ns=30 * S)
    assert bd is not None
    assert bd.steps[-1].what == "no write after the chain in the window"


def test_a_run_file_gives_the_same_breakdown_as_its_record(tmp_path: Path) -> None:
    run = good_run()
    # Nothing from the guest between 2.2 s and 2.6 s, while the NFS server starts.
    run.samples = [s for s in run.samples if not 2200 * MS <= s.host_ns < 2600 * MS]
    run.actions.append(Action("nfs_server", "nas1", "start", 0, 2300 * MS, 2400 * MS))
    from_record = of_run(run)
    path = write_run_json(tmp_path / "run.json", run, {"x": "ok"}, "passed")
    assert from_record is not None and from_record == of_document(json.loads(path.read_text()))
    assert [s.what for s in from_record.steps][1] == "nfs_server start on nas1"
    assert from_record.stall_s == pytest.approx(0.4, abs=0.06)
    assert "Where the disk stall went: hypervisor_move" in summary_from_files([path])


def test_the_nodes_journals_name_the_notifies_and_monitors_between_the_actions() -> None:
    ops = []
    for node in ("nas1", "nas2"):
        text = (DATA / f"journal-{node}-nas_move.txt").read_text()
        ops += [Action(o.resource, node, o.operation, 0 if o.ok else 1, int(o.started_s * S), int(o.ended_s * S))
                for o in ran_ops(text)]  # fmt: skip
    # The guest's last write before the NAS move of that run, and its first after (host clock = nodes' here).
    bd = nas_breakdown(ops, [1796308480 * S, 1796308600 * S], after_ns=1796308480 * S)
    assert bd is not None
    named = [s.what for s in bd.steps]
    assert "drbd_r0 notify on nas1" in named and "drbd_r0 promote on nas1" in named
    assert "nfs_server start on nas1" in named and "nfs_fs monitor on nas1" in named
    assert sum(s.adds_s for s in bd.steps) == pytest.approx(bd.stall_s)
    gaps = sum(s.adds_s for s in bd.steps if s.what == GAP)
    assert gaps < 0.25 * bd.stall_s  # most of the stall is now operations with names
