"""Calibration against a known truth: injected pauses of 50 ms to 1 s at a 5 ms heartbeat."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from harness.probe.calibration import calibrate

pytestmark = pytest.mark.component

INTERVAL_MS = 5
TOLERANCE_MS = 5


def test_freeze_matches_injected_pause_within_5_ms(probe_binary: Path) -> None:
    seed = random.randrange(1 << 32)
    chooser = random.Random(seed)
    result = calibrate(probe_binary, [chooser.uniform(0.05, 1.0) for _ in range(8)], hb_ms=INTERVAL_MS)

    assert result.analysis.lost == 0 and result.analysis.reordered == 0
    assert len(result.analysis.freezes) == len(result.pauses), f"seed {seed}: {result.analysis.freezes}"
    for pause, window in result.matched():
        assert window is not None, f"seed {seed}: no freeze seen for a {pause.injected_ms:.0f} ms pause"
        error = window.freeze_ms - pause.injected_ms
        assert abs(error) <= TOLERANCE_MS, (
            f"seed {seed}: injected {pause.injected_ms:.1f} ms, measured {window.freeze_ms:.1f} ms ({error:+.1f})"
        )
