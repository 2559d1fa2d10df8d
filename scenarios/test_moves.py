"""The seed's three moves, each idle and under memory load: live, lossless, clean, within budget.

Run one alone (`pytest scenarios/ -k nas_move`) or all: the runs are ordered
along the seed's cycle (harness/plugin/options.py), so a full run needs no repositioning between
moves; a move run alone first puts the lab in its starting placement.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from harness.measure.record import RunRecord
from harness.runs.moves import SCENARIOS, Scenario

pytestmark = [pytest.mark.move]

LOADS = ("idle", "load")
Measure = Callable[[Scenario, str], RunRecord]


@pytest.mark.parametrize("load", LOADS)
@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_move(measured: Measure, scenario: str, load: str) -> None:
    """One of the seed's moves, or the outage run beside both_move (harness/runs/moves.py says which expects what)."""
    measured(SCENARIOS[scenario], load)
