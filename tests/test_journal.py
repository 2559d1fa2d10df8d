"""The controller's journal read into operations: requests paired with their results, on real lines."""

from __future__ import annotations

from pathlib import Path

from harness.cluster.journal import ran_ops

DATA = Path(__file__).parent / "data"  # journalctl -u pacemaker -o short-unix, a NAS move on the TCG lab


def test_a_nas_moves_operations_on_the_new_primary() -> None:
    ops = ran_ops((DATA / "journal-nas1-nas_move.txt").read_text())
    kinds = [(o.resource, o.operation) for o in ops]
    assert ("drbd_r0", "promote") in kinds and ("nfs_server", "start") in kinds
    assert kinds.count(("drbd_r0", "notify")) >= 3  # post-demote, pre-promote, post-promote rounds
    promote = next(o for o in ops if o.operation == "promote")
    assert promote.ok and promote.result == "ok" and 0 < promote.ended_s - promote.started_s < 10
    assert all(o.started_s <= o.ended_s for o in ops)


def test_a_result_without_its_request_and_a_request_without_its_result_are_left_out() -> None:
    text = (
        "100.0 nas1 pacemaker-controld[1]:  notice: Result of stop operation for nfs_ip on nas1: ok\n"
        "101.0 nas1 pacemaker-controld[1]:  notice: Requesting local execution of start operation for nfs_fs on nas1\n"
        "102.0 nas1 pacemaker-controld[1]:  notice: Requesting local execution of stop operation for nfs_ip on nas1\n"
        "103.5 nas1 pacemaker-controld[1]:  notice: Result of stop operation for nfs_ip on nas1: error\n"
    )
    [op] = ran_ops(text)
    assert (op.resource, op.operation, op.started_s, op.ended_s, op.ok) == ("nfs_ip", "stop", 102.0, 103.5, False)
