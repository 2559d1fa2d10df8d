"""Runs a human can find: one folder per pytest session, `latest` pointing at it, and the
session's JUnit properties saying which lab, accelerator, commit and bring-up."""

from __future__ import annotations

import json
import types
from pathlib import Path

import pytest

from harness.config.lab import LabConfig
from harness.lab.handle import Lab
from harness.plugin.fixtures import run_properties
from harness.plugin.session import run_dir


def session(stash: pytest.Stash | None = None) -> pytest.Config:
    return types.SimpleNamespace(stash=stash or pytest.Stash())  # type: ignore[return-value]


def test_one_folder_per_session_and_latest_points_at_the_newest(tmp_path: Path) -> None:
    first = session()
    folder = run_dir(first, tmp_path)
    assert folder.parent == tmp_path / "runs" and folder.is_dir()
    assert run_dir(first, tmp_path) == folder  # the reports and the evidence share it
    assert (tmp_path / "latest").resolve() == folder.resolve()
    (folder.parent / "19990101T000000").mkdir()  # an older run, made by hand
    newer = run_dir(session(), tmp_path / "other")
    assert (tmp_path / "other" / "latest").resolve() == newer.resolve()
    assert (tmp_path / "latest").readlink() == folder.relative_to(tmp_path)  # relative: the folder may move


def test_the_session_properties_name_the_lab_its_accelerator_commit_and_bring_up(tmp_path: Path) -> None:
    lab = Lab(LabConfig(name="props", state_root=tmp_path), progress=lambda _line: None)
    lab.state_dir.mkdir(parents=True)
    lab.lab_json.write_text(json.dumps({"accel": "tcg"}))
    assert run_properties(lab)["accelerator"] == "tcg" and run_properties(lab)["lab"] == "props"
    assert run_properties(lab)["commit"] not in ("", "unknown")  # this checkout is a git tree
    assert not [k for k in run_properties(lab) if k.startswith("bring-up")]  # none recorded: none claimed
    (lab.state_dir / "bringup.json").write_text(json.dumps({"accel": "tcg", "vagrant up": 361.2}))
    assert run_properties(lab)["bring-up vagrant up s"] == 361.2
