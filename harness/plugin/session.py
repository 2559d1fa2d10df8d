"""What the plugin's parts share: where runs are written, the session's stash keys, progress past capture."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harness.config.lab import REPO, LabConfig

ARTIFACTS = REPO / "artifacts"
LOAD_MIBS = 8  # converges under TCG here (docs/results); the seed's guest plays a video
RUNS = pytest.StashKey[list[dict[str, Any]]]()
REPORT_DIR = pytest.StashKey[Path]()
RUN_FILES = pytest.StashKey[list[Path]]()  # a move's JSON and PNG, copied into its evidence on failure
CONFIG = pytest.StashKey[LabConfig]()
DESELECTED = pytest.StashKey[list[pytest.Item]]()


def stamp() -> str:
    return datetime.datetime.now().strftime("%Y%m%dT%H%M%S")


def run_dir(config: pytest.Config, root: Path = ARTIFACTS) -> Path:
    """This session's one folder (reports, and each failed test's evidence under evidence/),
    made on first use, with `latest` beside the runs pointing at it."""
    if REPORT_DIR in config.stash:
        return config.stash[REPORT_DIR]
    folder = root / "runs" / stamp()
    folder.mkdir(parents=True, exist_ok=True)
    latest = root / "latest"
    latest.unlink(missing_ok=True)
    latest.symlink_to(folder.relative_to(root), target_is_directory=True)
    config.stash[REPORT_DIR] = folder
    return folder


def progress_printer(config: pytest.Config) -> Callable[[str], None]:
    """Print past pytest's output capture: a bring-up takes many minutes and should show its phases."""
    capture = config.pluginmanager.getplugin("capturemanager")

    def show(line: str) -> None:
        if capture is None:
            print(line, flush=True)
            return
        with capture.global_and_fixture_disabled():
            print(line, flush=True)

    return show
