"""The seed's three moves, each idle and under memory load: live, lossless, clean, within budget.

Run one alone (`pytest scenarios/ -k nas_move`) or all: the runs are ordered
along the seed's cycle (conftest), so a full run needs no repositioning between
moves; a move run alone first puts the lab in its starting placement.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from harness.moves import SCENARIOS, MoveRun, Scenario

LOADS = ("idle", "load")
Move = Callable[[Scenario, str], MoveRun]


@pytest.mark.parametrize("load", LOADS)
def test_hypervisor_move(move: Move, load: str) -> None:
    move(SCENARIOS["hypervisor_move"], load)


@pytest.mark.parametrize("load", LOADS)
def test_nas_move(move: Move, load: str) -> None:
    move(SCENARIOS["nas_move"], load)


@pytest.mark.parametrize("load", LOADS)
def test_both_move(move: Move, load: str) -> None:
    move(SCENARIOS["both_move"], load)
