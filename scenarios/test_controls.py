"""Negative controls: the lab broken on purpose, and the harness must judge each run as failed.

A control passes when the verdict it names fails (the harness caught what was planted) and
fails when the harness would have passed the run. Run them on a running lab with
`pytest scenarios/ --reuse-lab -k control`. Each leaves the lab whole for the next.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from harness.measure.record import RunRecord
from harness.runs.controls import CONTROLS, Control

pytestmark = [pytest.mark.destructive]

Plant = Callable[[Control], RunRecord]


@pytest.mark.parametrize("name", sorted(CONTROLS))
def test_control(control: Plant, name: str) -> None:
    control(CONTROLS[name])
