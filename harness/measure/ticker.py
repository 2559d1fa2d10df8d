"""A progress line every half minute or so while a move or a fault runs: what the clusters did
since the last line and when the guest last spoke, so a ten-minute TCG move is seen to move
(and a stuck one is seen to be stuck) in a log or a CI job's output."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

from harness.cluster.watch import Change, Watch
from harness.probe.observer import Observer

EVERY_S = 45.0
SHOWN = 4  # changes per line; the rest are counted


def describe(name: str, since_start_s: float, changes: Sequence[Change], heartbeat_age_s: float | None) -> str:
    """One line: elapsed time, the newest cluster changes (older ones counted), the guest's silence."""
    if changes:
        shown = [f"{c.source} {c.key}: {c.new}" for c in changes[-SHOWN:]]
        more = f" (+{len(changes) - SHOWN} earlier)" if len(changes) > SHOWN else ""
        doing = "; ".join(shown) + more
    else:
        doing = "no change in the clusters"
    if heartbeat_age_s is None:
        guest = "no heartbeat yet"
    elif heartbeat_age_s < 1:
        guest = "guest heartbeating"
    else:
        guest = f"guest silent for {heartbeat_age_s:.0f} s"
    return f"  {name} +{since_start_s:.0f} s: {doing}; {guest}"


class Ticker:
    """For the length of a `with`: `progress(describe(...))` every `every_s`."""

    def __init__(
        self, name: str, watch: Watch, observer: Observer, progress: Callable[[str], None], every_s: float = EVERY_S
    ) -> None:
        self.name, self.watch, self.observer, self.progress, self.every_s = name, watch, observer, progress, every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"ticker {name}", daemon=True)

    def __enter__(self) -> Ticker:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        start_ns = seen_ns = time.time_ns()
        while not self._stop.wait(self.every_s):
            seen_ns = self.tick(start_ns, seen_ns)

    def tick(self, start_ns: int, seen_ns: int) -> int:
        """Print the line for the changes after `seen_ns`; return the time it covers up to."""
        now_ns = time.time_ns()
        fresh = [c for c in self.watch.changes if seen_ns < c.host_ns <= now_ns]
        last = self.observer.last_arrival_ns
        age = None if last is None else max(0.0, (now_ns - last) / 1e9)
        self.progress(describe(self.name, (now_ns - start_ns) / 1e9, fresh, age))
        return now_ns
