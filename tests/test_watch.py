"""The watchers' poll loop on a real shell: changes are reported once, torn samples skipped."""

from __future__ import annotations

import time
from pathlib import Path

from harness.cluster.watch import Poller


def local(script: str) -> list[str]:
    return ["sh", "-c", script]


def parse(text: str) -> dict[str, str]:
    key, _, value = text.strip().partition("=")
    if not value:
        raise ValueError(f"torn sample {text!r}")
    return {key: value}


def wait_for(condition, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_each_change_is_stamped_once_and_torn_samples_are_skipped(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.write_text("role=Secondary\n")
    poller = Poller(local, "drbd nas1", f"cat {state}", 0.05, parse)
    try:
        wait_for(lambda: poller.samples >= 3)
        state.write_text("garbage\n")
        time.sleep(0.3)
        before = time.time_ns()
        state.write_text("role=Primary\n")
        wait_for(lambda: poller.last.get("role") == "Primary")
        time.sleep(0.3)
    finally:
        poller.stop()
    changes = [(c.key, c.old, c.new) for c in poller.changes]
    assert changes == [("role", None, "Secondary"), ("role", "Secondary", "Primary")]
    assert poller.changes[1].host_ns >= before
    assert poller.changes[1].source == "drbd nas1"
