"""PNG timelines: heartbeat gaps and disk latency on the host's clock, with what moved beside them."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from harness.measure.record import RunRecord
from harness.probe.observer import Marker, Sample
from harness.probe.stats import NS_PER_MS
from harness.probe.timeline import Analysis


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _heartbeat_lanes(gaps_ax: Any, disk_ax: Any, samples: Sequence[Sample], x: Callable[[int], float]) -> None:
    """The two lanes every timeline has: gaps between heartbeat arrivals, and disk write latency."""
    if len(samples) > 1:
        gaps_ax.plot([x(s.host_ns) for s in samples[1:]],
                     [(b.host_ns - a.host_ns) / NS_PER_MS for a, b in itertools.pairwise(samples)],
                     lw=0.7, color="tab:blue", drawstyle="steps-pre", label="heartbeat gap")  # fmt: skip
        disk_ax.plot([x(s.host_ns) for s in samples],
                     [max(s.hb.max_write_latency_us, s.hb.inflight_us) / 1000 for s in samples],
                     lw=0.7, color="tab:green", drawstyle="steps-pre", label="disk write latency")  # fmt: skip
    gaps_ax.set_yscale("log")


def _markers(axes: Sequence[Any], markers: Sequence[Marker], x: Callable[[int], float], fontsize: int) -> None:
    for marker in markers:
        for ax in axes:
            ax.axvline(x(marker.host_ns), color="black", lw=0.6, ls="--")
        axes[0].annotate(marker.label, (x(marker.host_ns), 1), xycoords=("data", "axes fraction"),
                         rotation=90, va="top", ha="right", fontsize=fontsize)  # fmt: skip


def write_timeline_png(
    path: Path, analysis: Analysis, samples: Sequence[Sample], title: str = "probe timeline"
) -> Path:
    """An observed timeline without a lab (a local migration): the two lanes, freezes shaded."""
    plt = _pyplot()
    fig, (gaps_ax, disk_ax) = plt.subplots(2, 1, sharex=True, figsize=(11, 6), constrained_layout=True)
    t0 = samples[0].host_ns if samples else 0

    def x(ns: int) -> float:
        return (ns - t0) / 1e9

    _heartbeat_lanes(gaps_ax, disk_ax, samples, x)
    for window in analysis.freezes:
        end = window.end_ns if window.end_ns is not None else (samples[-1].host_ns if samples else window.start_ns)
        gaps_ax.axvspan(x(window.start_ns), x(end), color="tab:red", alpha=0.15)
    gaps_ax.axhline(analysis.threshold_ms, color="tab:red", lw=0.6, ls=":", label="freeze threshold")
    _markers((gaps_ax, disk_ax), analysis.markers, x, 8)
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


# The keys worth a lane in the picture: where the moving resources are, and DRBD's roles.
LANES = ("guest", "nfs_ip", "role")


def write_run_png(path: Path, run: RunRecord) -> Path:
    """Heartbeat gaps, disk latency, Pacemaker actions and states, DRBD roles, libvirt downtime: one time axis."""
    plt = _pyplot()
    samples = run.samples
    t0 = samples[0].host_ns if samples else run.started_ns

    def x(ns: int) -> float:
        return (ns - t0) / 1e9

    fig, (gaps_ax, disk_ax, acts_ax) = plt.subplots(
        3, 1, sharex=True, figsize=(12, 8), height_ratios=(3, 2, 3), constrained_layout=True
    )
    _heartbeat_lanes(gaps_ax, disk_ax, samples, x)
    if run.analysis:
        # Shade only the freezes that matter: a TCG guest has thousands just over the threshold.
        worth = max(run.analysis.threshold_ms, run.analysis.largest_freeze_ms / 4)
        for window in (w for w in run.analysis.freezes if w.gap_ms >= worth):
            end = window.end_ns if window.end_ns is not None else run.ended_ns
            gaps_ax.axvspan(x(window.start_ns), x(end), color="tab:red", alpha=0.15)
    migration = run.migration or {}
    if "downtime" in migration and run.actions:
        done = [a for a in run.actions if a.operation == "migrate_to"]
        if done:
            # libvirt gives the downtime's length, not its place: drawn ending where migrate_to ended
            # (virsh migrate returns once the destination runs; migrate_from only confirms it later).
            end = x(done[-1].ended_ns)
            gaps_ax.axvspan(end - migration["downtime"] / 1000, end, color="tab:purple", alpha=0.4,
                            label=f"libvirt downtime {migration['downtime']} ms")  # fmt: skip
    # Pacemaker actions as bars, one row per resource and node.
    rows: dict[str, int] = {}
    for action in run.actions:
        row = rows.setdefault(f"{action.resource}@{action.node}", len(rows))
        width = max(x(action.ended_ns) - x(action.started_ns), 0.05)
        acts_ax.barh(
            row, width, left=x(action.started_ns), color="tab:red" if action.rc not in (0, 7, 8) else "tab:orange"
        )
        acts_ax.annotate(action.operation, (x(action.started_ns), row), fontsize=6, va="center")
    # State changes the watchers saw: dots on extra rows, labelled with the new value.
    for change in run.changes:
        if change.old is None or not change.key.startswith(LANES):
            continue
        row = rows.setdefault(f"{change.source}: {change.key}", len(rows))
        acts_ax.plot([x(change.host_ns)], [row], "k|", ms=8)
        acts_ax.annotate(change.new, (x(change.host_ns), row + 0.25), fontsize=6)
    acts_ax.set_yticks(list(rows.values()), list(rows), fontsize=6)
    acts_ax.set_ylim(-1, max(len(rows), 1))
    _markers((gaps_ax, disk_ax, acts_ax), run.analysis.markers if run.analysis else [], x, 7)
    figures = run.figures()
    gaps_ax.set_ylabel("heartbeat gap (ms)")
    gaps_ax.legend(loc="upper left", fontsize=7)
    gaps_ax.set_title(
        f"{run.scenario}, load {run.load_mibs} MiB/s ({run.accel}): largest freeze {figures['largest_freeze_ms']} ms, "
        f"disk stall {figures['disk_stall_ms']} ms, {run.before} -> {run.after}"
    )
    disk_ax.set_yscale("symlog", linthresh=1)
    disk_ax.set_ylim(bottom=0)
    disk_ax.set_ylabel("disk write (ms)")
    acts_ax.set_xlabel("host time since the first heartbeat of the run (s)")
    acts_ax.set_title("Pacemaker actions (bars, node clocks corrected) and state changes seen (ticks)", fontsize=8)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
