"""JSON reports: every figure, verdict, event and heartbeat of a run, for a reader or a script."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.judging.breakdown import of_run
from harness.judging.verdicts import noise_note
from harness.measure.record import RunRecord
from harness.probe.observer import Sample
from harness.probe.timeline import Analysis


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def heartbeat_columns(samples: Sequence[Sample]) -> dict[str, list[int | str]]:
    """The heartbeats as columns (times in ns, host clock), as every JSON report carries them."""
    return {
        "host_ns": [s.host_ns for s in samples],
        "seq": [s.hb.seq for s in samples],
        "boot_id": [s.hb.boot_id for s in samples],
        "mono_ns": [s.hb.mono_ns for s in samples],
        "uptime_ns": [s.hb.uptime_ns for s in samples],
        "last_ack": [s.hb.last_ack for s in samples],
        "max_write_latency_us": [s.hb.max_write_latency_us for s in samples],
        "inflight_us": [s.hb.inflight_us for s in samples],
    }


def write_run_json(path: Path, run: RunRecord, verdicts: dict[str, str], outcome: str | None = None) -> Path:
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
        "started_from": run.started_from or "where the previous run left the lab",
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
        "node_operations": _plain(run.node_ops),
        "libvirt_completed_job": run.migration,
        "guest_states": run.guest_states,
        "failures": _plain(run.failures),
        "leftover_constraints": _plain(run.leftovers),
        "drbd_after": _plain(run.drbd_after),
        "nfs_chain_breakdown": _plain(of_run(run)),
        "records": [{**_plain(v), "summary": v.summary()} for v in run.verifications],
        "node_clock_offsets_ms": run.clock_offsets_ms,
        "analysis": run.analysis.to_dict() if run.analysis else None,
        "heartbeats": heartbeat_columns(run.samples),
    }
    path.write_text(json.dumps(document, indent=1))
    return path


def write_timeline_json(
    path: Path, analysis: Analysis, samples: Sequence[Sample], extra: dict[str, object] | None = None
) -> Path:
    """An observed timeline without a lab (a local migration): figures, markers and the heartbeats."""
    document = {"analysis": analysis.to_dict(), "extra": extra or {}, "samples": heartbeat_columns(samples)}
    path.write_text(json.dumps(document, indent=1))
    return path
