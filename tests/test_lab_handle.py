"""A lab brought up by older code: its lab.json is rendered anew when its status is read, before
any later Vagrant call reads it through the Vagrantfile."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.config.lab import LabConfig
from harness.host import domains
from harness.lab import provisioned
from harness.lab.handle import Lab, bring_up_way


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


@pytest.fixture
def kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> provisioned.Entry:
    """An entry kept on this host for today's recipe."""
    monkeypatch.setenv("HA_LAB_SNAPSHOTS", str(tmp_path))
    entry = provisioned.Entry("0123456789abcdef")
    entry.folder.mkdir(parents=True)
    (entry.folder / provisioned.DONE).write_text("{}")
    return entry


@pytest.mark.parametrize(
    ("new", "restore", "stands_on", "running", "way"),
    [
        (True, True, None, False, "restore"),  # nothing yet: made from the kept entry
        (True, False, None, False, "provision"),  # --fresh-lab
        (False, True, "0123456789abcdef", True, "reuse"),  # running on today's recipe: as it is
        (False, True, "fedcba9876543210", True, "provision"),  # the recipe changed since: picked up
        (False, True, None, True, "provision"),  # brought up without keeping a state
        (False, True, "0123456789abcdef", False, "provision"),  # a node down or paused: vagrant up
    ],
)
def test_a_running_lab_is_provisioned_again_only_when_its_recipe_changed(
    kept: provisioned.Entry, new: bool, restore: bool, stands_on: str | None, running: bool, way: str
) -> None:
    on = provisioned.Entry(stands_on) if stands_on else None
    assert bring_up_way(new, restore, kept, on, running) == way


def test_a_new_lab_whose_recipe_has_no_complete_entry_is_provisioned(kept: provisioned.Entry) -> None:
    (kept.folder / provisioned.DONE).unlink()  # cut short while it was kept
    assert bring_up_way(True, True, kept, None, False) == "provision"
