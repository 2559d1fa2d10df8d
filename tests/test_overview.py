"""`ha-lab status`: each line read on its own, a line that cannot be read says why."""

from __future__ import annotations

from pathlib import Path

from harness.cluster.overview import _last_run, _line
from harness.lab.ssh import LabError


def test_a_line_that_cannot_be_read_says_why_and_the_others_stand() -> None:
    def unreachable() -> str:
        raise LabError("nas1: ssh timed out after 60 s")

    assert _line("NFS on", unreachable) == "NFS on       unknown (nas1: ssh timed out after 60 s)"
    assert _line("guest on", lambda: "vnode3") == "guest on     vnode3"


def test_the_last_run_is_the_one_latest_points_at(tmp_path: Path) -> None:
    assert _last_run(tmp_path) == "none in this checkout"
    run = tmp_path / "runs" / "20261203T172954"
    run.mkdir(parents=True)
    for name in ("nas_move-idle-run1.json", "nas_move-load-run1.json"):
        (run / name).write_text("{}")
    (run / "summary.md").write_text("| nas_move | 0 | 1 | passed |\n| nas_move | 8 | 1 | failed |\n")
    (tmp_path / "latest").symlink_to("runs/20261203T172954")
    assert _last_run(tmp_path) == f"{run} (2 runs, 1 failed)"
