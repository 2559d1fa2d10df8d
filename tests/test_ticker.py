"""The progress line during a move: what the clusters did since the last line, the guest's silence."""

from __future__ import annotations

import time
import types

from harness.cluster.watch import Change
from harness.measure.ticker import Ticker, describe


def change(ns: int, key: str, new: str) -> Change:
    return Change(ns, "nas", key, None, new)


def test_a_line_names_the_newest_changes_and_counts_the_rest() -> None:
    changes = [change(i, f"r{i}", "Started nas1") for i in range(6)]
    line = describe("nas_move", 90.4, changes, 0.2)
    assert line == (
        "  nas_move +90 s: nas r2: Started nas1; nas r3: Started nas1; nas r4: Started nas1; "
        "nas r5: Started nas1 (+2 earlier); guest heartbeating"
    )


def test_a_quiet_cluster_and_a_silent_guest_are_said_to_be_so() -> None:
    assert describe("both_move", 45, [], 37.6) == "  both_move +45 s: no change in the clusters; guest silent for 38 s"
    assert describe("both_move", 45, [], None).endswith("no heartbeat yet")


def test_each_line_shows_only_what_changed_since_the_last() -> None:
    start = time.time_ns()
    watch = types.SimpleNamespace(changes=[change(start - 10**9, "before", "Stopped")])
    observer = types.SimpleNamespace(last_arrival_ns=start)
    lines: list[str] = []
    ticker = Ticker("nas_move", watch, observer, lines.append)  # type: ignore[arg-type]
    seen = ticker.tick(start, start)
    watch.changes.append(change(time.time_ns(), "during", "Started nas1"))
    seen = ticker.tick(start, seen)
    ticker.tick(start, seen)
    assert ["no change" in line for line in lines] == [True, False, True], lines
    assert "nas during: Started nas1" in lines[1] and "before" not in "".join(lines)


def test_the_lines_come_while_the_block_runs_and_stop_after() -> None:
    watch = types.SimpleNamespace(changes=[])
    observer = types.SimpleNamespace(last_arrival_ns=None)
    lines: list[str] = []
    with Ticker("nas_move", watch, observer, lines.append, every_s=0.02):  # type: ignore[arg-type]
        time.sleep(0.3)
    count = len(lines)
    time.sleep(0.1)
    assert count >= 2 and len(lines) == count
