"""Reports of move runs: a JSON file and a PNG timeline per run, a Markdown table per session."""

from __future__ import annotations

import dataclasses
import itertools
import json
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.run_record import RunRecord, libvirt_figures
from harness.timeline import NS_PER_MS, percentile
from harness.verdicts import noise_note


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def write_json(path: Path, run: RunRecord, verdicts: dict[str, str], outcome: str | None = None) -> Path:
    """Every figure, event and heartbeat of the run; times are host CLOCK_REALTIME ns."""
    document = {
        "scenario": run.scenario,
        "kind": run.kind,
        "outcome": outcome,
        "load_mibs": run.load_mibs,
        "accel": run.accel,
        "figures": run.figures(),
        "verdicts": verdicts,
        "notes": run.notes,
        "baseline": _plain(run.baseline),
        "freeze_against_noise": noise_note(run),
        "placement": {"before": str(run.before), "after": str(run.after) if run.after else None},
        "window_ns": {
            "opened": run.window_ns,
            "move_requested": run.started_ns,
            "clusters_idle": run.idle_ns,
            "ended": run.ended_ns,
        },
        "ack_before": run.ack_before,
        "commands": _plain(run.commands),
        "cluster_changes": _plain(run.changes),
        "pacemaker_actions": _plain(run.actions),
        "libvirt_completed_job": run.migration,
        "guest_states": run.guest_states,
        "failures": _plain(run.failures),
        "leftover_constraints": _plain(run.leftovers),
        "drbd_after": _plain(run.drbd_after),
        "records": [{**_plain(v), "summary": v.summary()} for v in run.verifications],
        "node_clock_offsets_ms": run.clock_offsets_ms,
        "analysis": run.analysis.to_dict() if run.analysis else None,
        "heartbeats": {
            "host_ns": [s.host_ns for s in run.samples],
            "seq": [s.hb.seq for s in run.samples],
            "boot_id": [s.hb.boot_id for s in run.samples],
            "mono_ns": [s.hb.mono_ns for s in run.samples],
            "last_ack": [s.hb.last_ack for s in run.samples],
            "max_write_latency_us": [s.hb.max_write_latency_us for s in run.samples],
            "inflight_us": [s.hb.inflight_us for s in run.samples],
        },
    }
    path.write_text(json.dumps(document, indent=1))
    return path


# The keys worth a lane in the picture: where the moving resources are, and DRBD's roles.
LANES = ("guest", "nfs_ip", "role")


def write_png(path: Path, run: RunRecord) -> Path:
    """Heartbeat gaps, disk latency, Pacemaker actions and states, DRBD roles, libvirt downtime: one time axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    samples = run.samples
    t0 = samples[0].host_ns if samples else run.started_ns

    def x(ns: int) -> float:
        return (ns - t0) / 1e9

    fig, (gaps_ax, disk_ax, acts_ax) = plt.subplots(
        3, 1, sharex=True, figsize=(12, 8), height_ratios=(3, 2, 3), constrained_layout=True
    )
    if len(samples) > 1:
        gaps_ax.plot([x(s.host_ns) for s in samples[1:]],
                     [(b.host_ns - a.host_ns) / NS_PER_MS for a, b in itertools.pairwise(samples)],
                     lw=0.7, color="tab:blue", drawstyle="steps-pre", label="heartbeat gap")  # fmt: skip
        disk_ax.plot([x(s.host_ns) for s in samples],
                     [max(s.hb.max_write_latency_us, s.hb.inflight_us) / 1000 for s in samples],
                     lw=0.7, color="tab:green", drawstyle="steps-pre", label="disk write latency")  # fmt: skip
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
    for ax in (gaps_ax, disk_ax, acts_ax):
        for marker in run.analysis.markers if run.analysis else []:
            ax.axvline(x(marker.host_ns), color="black", lw=0.6, ls="--")
    for marker in run.analysis.markers if run.analysis else []:
        gaps_ax.annotate(marker.label, (x(marker.host_ns), 1), xycoords=("data", "axes fraction"),
                         rotation=90, va="top", ha="right", fontsize=7)  # fmt: skip
    figures = run.figures()
    gaps_ax.set_yscale("log")
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


SUMMARY_FIGURES = (
    "largest_freeze_ms",
    "disk_stall_ms",
    "libvirt_downtime_ms",
    "libvirt_total_ms",
    "libvirt_data_mib",
    "move_s",
)


def summary_markdown(rows: Sequence[dict[str, Any]]) -> str:
    """One line per run, then p50/p95 of each figure per scenario and load, over every run.

    Failed runs count: leaving them out would put p95 inside the budget by construction.
    Their number and names stand beside the percentiles, so a reader sees what the tail is.
    """
    head = ["scenario", "load MiB/s", "run", "result", *SUMMARY_FIGURES, "lost hb", "records checked"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        f = row["figures"]
        cells = [row["scenario"], row["load_mibs"], row["repeat"], row["outcome"],
                 *(_cell(f.get(k)) for k in SUMMARY_FIGURES), _cell(f.get("lost_heartbeats")),
                 _cell(f.get("records_checked"))]  # fmt: skip
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    groups: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[(row["scenario"], row["load_mibs"])].append(row)
    lines += [
        "",
        "| scenario | load MiB/s | runs | not passed | " + " | ".join(f"{k} p50 / p95" for k in SUMMARY_FIGURES) + " |",
    ]
    lines.append("|" + "---|" * (4 + len(SUMMARY_FIGURES)))
    for (scenario, load), group in groups.items():
        others = [f"{r['repeat']} ({r['outcome']})" for r in group if r["outcome"] not in ("passed", "caught")]
        cells = [scenario, load, len(group), f"{len(others)}: {', '.join(others)}" if others else "0"]
        for key in SUMMARY_FIGURES:
            values = [float(r["figures"][key]) for r in group if r["figures"].get(key) is not None]
            cells.append(f"{_cell(percentile(values, 50))} / {_cell(percentile(values, 95))}" if values else "-")
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


def summary_from_files(paths: Sequence[Path]) -> str:
    """The summary of run files written by write_json, from one pytest session or several."""
    rows = []
    for path in paths:
        try:
            document = json.loads(path.read_text())
            verdicts = document["verdicts"]
            # Figures from libvirt's own record, so files written before a fix to them read right.
            figures = {**document["figures"], **libvirt_figures(document["libvirt_completed_job"] or {})}
            row = {"scenario": document["scenario"], "load_mibs": document["load_mibs"], "figures": figures}
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise ReportError(
                f"{path}: not a move run file ({err}); give the JSON files under artifacts/moves-*/"
            ) from err
        passed = bool(verdicts) and all(str(v).startswith("ok") for v in verdicts.values())
        outcome = document.get("outcome") or ("passed" if passed else "failed")
        rows.append({**row, "repeat": f"{path.parent.name}/{path.stem}", "outcome": outcome})
    return summary_markdown(rows)


class ReportError(ValueError):
    """A file that is not a move run's JSON; the message says which and what to give."""


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)
