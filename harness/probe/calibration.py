"""Calibrate the observer against pauses we inject ourselves.

The probe runs as a host process; SIGSTOP freezes it the way a paused VM is
frozen, for a pause timed on the host; the observer must measure that pause.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from harness.probe.observer import Observer
from harness.probe.timeline import Analysis, FreezeWindow, analyze


@dataclass(frozen=True)
class Pause:
    stopped_at_ns: int  # host realtime clock, as the observer's samples
    injected_ms: float  # time between SIGSTOP and SIGCONT on the monotonic clock


@dataclass(frozen=True)
class Calibration:
    pauses: list[Pause]
    analysis: Analysis
    hb_ms: int

    def matched(self) -> list[tuple[Pause, FreezeWindow | None]]:
        """Each pause with the freeze window that spans its SIGSTOP, if any."""
        return [
            (pause, next((w for w in self.analysis.freezes if self._spans(w, pause.stopped_at_ns)), None))
            for pause in self.pauses
        ]

    def _spans(self, window: FreezeWindow, stopped_at_ns: int) -> bool:
        # The stop time is read just before kill(): a heartbeat sent in between
        # opens the window up to one interval after it.
        end = window.end_ns if window.end_ns is not None else stopped_at_ns
        return window.start_ns - self.hb_ms * 1_000_000 <= stopped_at_ns <= end


def calibrate(probe: Path, pauses_s: list[float], hb_ms: int = 5, steady_s: float = 0.3) -> Calibration:
    with Observer() as observer:
        host, port = observer.address
        process = subprocess.Popen(
            [str(probe), "--observer", f"{host}:{port}", "--hb-ms", str(hb_ms), "--disk", ""],
            stderr=subprocess.DEVNULL,
        )
        try:
            observer.wait_for_heartbeat(10)
            pauses = [_pause(process, seconds, steady_s, hb_ms) for seconds in pauses_s]
            time.sleep(steady_s)
        finally:
            process.terminate()
            process.wait()
        # Below the shortest pause (50 ms), well above scheduling jitter on a busy host.
        return Calibration(pauses, analyze(observer.samples, interval_ms=hb_ms, threshold_ms=40), hb_ms)


def _pause(process: subprocess.Popen[bytes], seconds: float, steady_s: float, hb_ms: int) -> Pause:
    # A random phase against the heartbeat schedule, or every pause would
    # start at the same point between two heartbeats.
    time.sleep(steady_s + random.uniform(0, hb_ms / 1000))
    stopped_at = time.time_ns()
    t0 = time.monotonic()
    os.kill(process.pid, signal.SIGSTOP)
    time.sleep(seconds)
    t1 = time.monotonic()
    os.kill(process.pid, signal.SIGCONT)
    return Pause(stopped_at, (t1 - t0) * 1000)
