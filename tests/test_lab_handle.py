"""A lab brought up by older code: its lab.json is rendered anew when its status is read, before
any later Vagrant call reads it through the Vagrantfile."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.config.lab import LabConfig
from harness.host import domains
from harness.lab.handle import Lab


def test_status_renders_an_older_lab_json_anew_keeping_accel_and_box(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lab = Lab(LabConfig(name="older", state_root=tmp_path), progress=lambda _line: None)
    lab.console_dir = tmp_path / "consoles"
    old = {"name": "older", "accel": "tcg", "box": "halab-debian12-old"}  # before the facts were rendered
    lab.state_dir.mkdir(parents=True)
    lab.lab_json.write_text(json.dumps(old))
    read_then: list[dict[str, object]] = []
    monkeypatch.setattr(domains, "states", lambda _config: read_then.append(json.loads(lab.lab_json.read_text())))
    lab.status()
    [seen] = read_then
    assert (seen["accel"], seen["box"]) == ("tcg", "halab-debian12-old")
    assert seen["drbd"] == {"resource": "r0", "device": "/dev/drbd0", "disk": "/dev/vdb"}


def test_a_lab_never_brought_up_has_no_status_and_no_files(tmp_path: Path) -> None:
    lab = Lab(LabConfig(name="never", state_root=tmp_path), progress=lambda _line: None)
    assert lab.status() == {}
    assert not lab.state_dir.exists()
