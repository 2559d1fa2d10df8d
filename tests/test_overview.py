"""`ha-lab status`: each line read on its own, a line that cannot be read says why."""

from __future__ import annotations

import json
import types
from pathlib import Path

import pytest

from harness.cluster import placement
from harness.cluster.overview import _line, overview
from harness.cluster.state import ClusterState
from harness.judging.summary import last_run
from harness.lab.ssh import LabError


def test_a_line_that_cannot_be_read_says_why_and_the_others_stand() -> None:
    def unreachable() -> str:
        raise LabError("nas1: ssh timed out after 60 s")

    assert _line("NFS on", unreachable) == "NFS on       unknown (nas1: ssh timed out after 60 s)"
    assert _line("guest on", lambda: "vnode3") == "guest on     vnode3"


def test_the_last_run_is_the_one_latest_points_at(tmp_path: Path) -> None:
    assert last_run(tmp_path) == "none in this checkout"
    run = tmp_path / "runs" / "20261203T172954"
    run.mkdir(parents=True)
    (run / "nas_move-idle-run1.json").write_text(json.dumps({"outcome": "passed"}))
    (run / "nas_move-load-run1.json").write_text(json.dumps({"outcome": "failed"}))
    (run / "disk_gone-idle-run1.json").write_text(json.dumps({"outcome": "caught"}))
    (tmp_path / "latest").symlink_to("runs/20261203T172954")
    assert last_run(tmp_path) == f"{run} (3 runs, 1 failed)"


def test_the_last_run_counts_failures_of_a_session_stopped_before_its_summary(tmp_path: Path) -> None:
    """A stopped session leaves its run files but no summary.md: its failures still count."""
    run = tmp_path / "runs" / "20261204T170044"
    run.mkdir(parents=True)
    (run / "hypervisor_move-idle-run1.json").write_text(json.dumps({"outcome": "passed"}))
    (run / "nas_move-idle-run1.json").write_text(json.dumps({"outcome": "failed"}))
    (run / "both_move-idle-run1.json").write_text(json.dumps({"outcome": "harness error"}))
    (run / "old_move-idle-run1.json").write_text(json.dumps({"verdicts": {"budget: freeze": "FAILED: 9 s"}}))
    (run / "cut_short-idle-run1.json").write_text("{")
    (tmp_path / "latest").symlink_to("runs/20261204T170044")
    assert last_run(tmp_path) == f"{run} (5 runs, 4 failed)"


def test_each_clusters_state_is_read_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """crm_mon over SSH costs seconds on a TCG node: the guest's, the NFS service's and the fence
    devices' lines share one read per cluster."""
    reads: list[str] = []

    def cluster_state(_lab: object, role: str) -> ClusterState:
        reads.append(role)
        return ClusterState((), (), (), ())

    monkeypatch.setattr(placement, "cluster_state", cluster_state)
    monkeypatch.setattr(placement, "drbd_states", lambda _lab: {})
    lab = types.SimpleNamespace(accel=lambda: "tcg", state_dir=tmp_path)
    lines = overview(lab, lambda: "none in this checkout")  # type: ignore[arg-type]
    assert sorted(reads) == ["hv", "nas"]
    assert lines[1] == "guest on     nowhere" and lines[2] == "NFS on       nowhere"
