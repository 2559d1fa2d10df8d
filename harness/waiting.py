"""Waiting for a condition on the lab: polled, with a deadline that names what did not happen."""

from __future__ import annotations

import time
from collections.abc import Callable

from harness.lab import LabError


def wait_for(what: str, timeout_s: float, check: Callable[[], bool], every_s: float = 3.0) -> float:
    """Until `check` holds; the seconds that took."""
    started = time.monotonic()
    deadline = started + timeout_s
    while True:
        try:
            if check():
                return time.monotonic() - started
        except LabError:
            pass  # a node busy recovering may not answer this round
        if time.monotonic() > deadline:
            raise LabError(f"{what}: not within {timeout_s:.0f} s")
        time.sleep(every_s)
