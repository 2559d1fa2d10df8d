"""The session's summary: one Markdown line per run, then p50/p95 per scenario and load over every run."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.judging.breakdown import of_document
from harness.measure.record import libvirt_figures
from harness.probe.stats import percentile

GOOD_OUTCOMES = ("passed", "caught")  # a move that held, a control whose breakage was caught

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
        others = [f"{r['repeat']} ({r['outcome']})" for r in group if r["outcome"] not in GOOD_OUTCOMES]
        cells = [scenario, load, len(group), f"{len(others)}: {', '.join(others)}" if others else "0"]
        for key in SUMMARY_FIGURES:
            values = [float(r["figures"][key]) for r in group if r["figures"].get(key) is not None]
            cells.append(f"{_cell(percentile(values, 50))} / {_cell(percentile(values, 95))}" if values else "-")
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    for row in (r for r in rows if r.get("breakdown")):
        lines += ["", f"Where the disk stall went: {row['scenario']}, {row['load_mibs']} MiB/s, {row['repeat']}", ""]
        lines.append(row["breakdown"].rstrip())
    return "\n".join(lines) + "\n"


def summary_from_files(paths: Sequence[Path]) -> str:
    """The summary of run files written by write_run_json, from one pytest session or several."""
    rows = []
    for path in paths:
        try:
            document = json.loads(path.read_text())
            if not isinstance(document["verdicts"], dict):
                raise TypeError("its verdicts are not a table")
            # Figures from libvirt's own record, so files written before a fix to them read right.
            figures = {**document["figures"], **libvirt_figures(document["libvirt_completed_job"] or {})}
            row = {"scenario": document["scenario"], "load_mibs": document["load_mibs"], "figures": figures}
            breakdown = of_document(document)
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise ReportError(
                f"{path}: not a move run file ({err}); give the JSON files under artifacts/runs/*/"
            ) from err
        rows.append({**row, "repeat": f"{path.parent.name}/{path.stem}", "outcome": outcome_of(document),
                     "breakdown": breakdown.markdown() if breakdown else None})  # fmt: skip
    return summary_markdown(rows)


def outcome_of(document: dict[str, Any]) -> str:
    """A run file's outcome; files written before runs recorded one are judged by their verdicts."""
    verdicts = document.get("verdicts") or {}
    passed = bool(verdicts) and all(str(v).startswith("ok") for v in verdicts.values())
    return str(document.get("outcome") or ("passed" if passed else "failed"))


class ReportError(HarnessError, ValueError):
    """A file that is not a move run's JSON; the message says which and what to give."""


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def last_run(artifacts: Path) -> str:
    """`ha-lab status`'s line on the newest run folder: how many runs, how many did not hold."""
    latest = artifacts / "latest"
    if not latest.exists():
        return "none in this checkout"
    # From the run files, not summary.md: a session that was stopped (or is still running) has
    # written its runs but no summary yet.
    outcomes = [_outcome(path) for path in sorted(latest.glob("*-run*.json"))]
    failed = sum(1 for outcome in outcomes if outcome not in GOOD_OUTCOMES)
    return f"{latest.resolve()} ({len(outcomes)} runs, {failed} failed)"


def _outcome(path: Path) -> str:
    try:
        return outcome_of(json.loads(path.read_text()))
    except (OSError, ValueError, AttributeError):
        return "unreadable"
