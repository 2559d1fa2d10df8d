"""The seed's three moves, each idle and under memory load: live, lossless, clean, within budget.

Run one alone (`pytest scenarios/ -k nas_move`) or all: the runs are ordered
along the seed's cycle (conftest), so a full run needs no repositioning between
moves; a move run alone first puts the lab in its starting placement.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from harness.moves import SCENARIOS, Scenario
from harness.run_record import RunRecord

LOADS = ("idle", "load")
Move = Callable[[Scenario, str], RunRecord]


@pytest.mark.parametrize("load", LOADS)
def test_hypervisor_move(move: Move, load: str) -> None:
    move(SCENARIOS["hypervisor_move"], load)


@pytest.mark.parametrize("load", LOADS)
def test_nas_move(move: Move, load: str) -> None:
    move(SCENARIOS["nas_move"], load)


@pytest.mark.parametrize("load", LOADS)
def test_both_move(move: Move, load: str) -> None:
    """The operator's safe order: the NFS move starts once the migration's switchover is over."""
    move(SCENARIOS["both_move"], load)


@pytest.mark.parametrize("load", LOADS)
def test_both_move_in_outage(move: Move, load: str) -> None:
    """The switchover made to land inside the NFS outage: the guest survives it, stopped until NFS serves."""
    move(SCENARIOS["both_move_in_outage"], load)
