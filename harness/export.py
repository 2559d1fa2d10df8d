"""Write an observed timeline out: JSON with every figure, a PNG to look at."""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from pathlib import Path

from harness.observer import Sample
from harness.timeline import NS_PER_MS, Analysis


def write_json(
    path: Path, analysis: Analysis, samples: Sequence[Sample], extra: dict[str, object] | None = None
) -> Path:
    """Figures, markers and the raw heartbeat columns (times in ns, host clock)."""
    columns: dict[str, list[int | str]] = {
        "host_ns": [s.host_ns for s in samples],
        "seq": [s.hb.seq for s in samples],
        "mono_ns": [s.hb.mono_ns for s in samples],
        "uptime_ns": [s.hb.uptime_ns for s in samples],
        "last_ack": [s.hb.last_ack for s in samples],
        "max_write_latency_us": [s.hb.max_write_latency_us for s in samples],
        "inflight_us": [s.hb.inflight_us for s in samples],
    }
    document = {"analysis": analysis.to_dict(), "extra": extra or {}, "samples": columns}
    path.write_text(json.dumps(document, indent=1))
    return path


def write_png(path: Path, analysis: Analysis, samples: Sequence[Sample], title: str = "probe timeline") -> Path:
    """Heartbeat gaps and disk write latency on one time axis, events drawn on both."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (gaps_ax, disk_ax) = plt.subplots(2, 1, sharex=True, figsize=(11, 6), constrained_layout=True)
    if samples:
        t0 = samples[0].host_ns
        times = [(s.host_ns - t0) / 1e9 for s in samples[1:]]
        gaps = [(b.host_ns - a.host_ns) / NS_PER_MS for a, b in itertools.pairwise(samples)]
        gaps_ax.plot(times, gaps, lw=0.7, color="tab:blue", drawstyle="steps-pre", label="heartbeat gap")
        for window in analysis.freezes:
            end = window.end_ns if window.end_ns is not None else samples[-1].host_ns
            gaps_ax.axvspan((window.start_ns - t0) / 1e9, (end - t0) / 1e9, color="tab:red", alpha=0.15)
        gaps_ax.axhline(analysis.threshold_ms, color="tab:red", lw=0.6, ls=":", label="freeze threshold")
        latency = [max(s.hb.max_write_latency_us, s.hb.inflight_us) / 1000 for s in samples]
        disk_ax.plot(
            [(s.host_ns - t0) / 1e9 for s in samples], latency, lw=0.7, color="tab:green", drawstyle="steps-pre"
        )
        for marker in analysis.markers:
            x = (marker.host_ns - t0) / 1e9
            for ax in (gaps_ax, disk_ax):
                ax.axvline(x, color="black", lw=0.8, ls="--")
            gaps_ax.annotate(marker.label, (x, 1), xycoords=("data", "axes fraction"), rotation=90,
                             va="top", ha="right", fontsize=8)  # fmt: skip
    gaps_ax.set_yscale("log")
    gaps_ax.set_ylabel("gap between heartbeats (ms)")
    gaps_ax.legend(loc="upper left", fontsize=8)
    gaps_ax.set_title(
        f"{title}: largest freeze {analysis.largest_freeze_ms:.1f} ms, "
        f"{analysis.lost} lost, p99 gap {analysis.gap_p99_ms:.1f} ms"
    )
    disk_ax.set_ylabel("disk write latency (ms)")
    disk_ax.set_xlabel("host time since first heartbeat (s)")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
