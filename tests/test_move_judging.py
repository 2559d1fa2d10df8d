"""Judging and reporting a move run, on synthetic runs with known answers.

A good live migration passes every verdict; a stop/start relocation, a lost
record, a leftover constraint or a freeze over budget each fails its own.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from harness import move_report
from harness.budgets import Budget
from harness.cluster import Failure, Location
from harness.drbd import DrbdState
from harness.moves import SCENARIOS, Action, MoveRun
from harness.records import Verification
from harness.timeline import analyze
from tests.test_timeline import MS, OTHER_BOOT, beat

HEALTHY = DrbdState("Connected", "Primary", "Secondary", "UpToDate", "UpToDate")
BUDGET = Budget(freeze_ms=300, disk_stall_ms=15000)
SCENARIO = SCENARIOS["hypervisor_move"]


def good_run(freeze_ms: float = 150) -> MoveRun:
    """vnode2 -> vnode3 by migration: one freeze, same boot, every record kept."""
    samples = [beat(i + 1, i * 5, last_ack=i // 10 + 100) for i in range(400)]
    resume = 400 * 5 + freeze_ms
    samples += [beat(401 + i, resume + i * 5, last_ack=140 + i // 10) for i in range(400)]
    end_ns = samples[-1].host_ns + 5 * MS
    run = MoveRun("hypervisor_move", 0, "kvm", before=SCENARIO.start, after=SCENARIO.end)
    run.started_ns, run.idle_ns, run.ended_ns, run.ack_before = 1000 * MS, 3000 * MS, end_ns, 100
    run.samples = samples
    run.analysis = analyze(samples, interval_ms=5, end_ns=end_ns)
    run.actions = [
        Action("guest", "vnode2", "migrate_to", 0, 1500 * MS, 2000 * MS),
        Action("guest", "vnode3", "migrate_from", 0, 2000 * MS, 2100 * MS),
        Action("guest", "vnode2", "stop", 0, 2100 * MS, 2200 * MS),
    ]
    run.migration = {
        "type": 3,
        "downtime": 120,
        "downtime_net": 110,
        "time_elapsed": 4000,
        "data_total": 192 << 20,
        "data_processed": 90 << 20,
        "memory_iteration": 4,
        "memory_bps": 30 << 20,
    }
    run.guest_states = {"vnode2": None, "vnode3": "running"}
    run.failures = {"hv": [], "nas": []}
    run.leftovers = {"hv": [], "nas": []}
    run.drbd_after = {"nas1": HEALTHY, "nas2": dataclasses.replace(HEALTHY, role="Secondary", peer_role="Primary")}
    run.verification = Verification(upto=179, first_checked=1, newest_on_disk=179)
    return run


def failed(run: MoveRun, budget: Budget = BUDGET) -> list[str]:
    from harness.verdicts import judge

    return [v.name for v in judge(run, SCENARIO, budget) if not v.ok]


def test_a_live_migration_within_budget_passes_every_verdict() -> None:
    assert failed(good_run()) == []


def test_a_stop_and_start_relocation_fails_as_not_live() -> None:
    run = good_run()
    # The guest came back on the target, but as a new boot with its counters restarted.
    restarted = [beat(i + 1, 3000 + i * 5, boot=OTHER_BOOT, last_ack=180 + i, uptime_ns=i * 5 * MS) for i in range(50)]
    run.samples = run.samples[:400] + restarted
    run.analysis = analyze(run.samples, interval_ms=5, end_ns=run.samples[-1].host_ns)
    run.actions = [
        Action("guest", "vnode2", "stop", 0, 1500 * MS, 2000 * MS),
        Action("guest", "vnode3", "start", 0, 2000 * MS, 2900 * MS),
    ]
    broken = failed(run)
    assert "live: same boot" in broken
    assert "live: migrated, not restarted" in broken


def test_a_guest_still_on_the_source_fails() -> None:
    run = dataclasses.replace(good_run(), after=SCENARIO.start, guest_states={"vnode2": "running", "vnode3": None})
    assert {"live: on the target", "live: libvirt agrees"} <= set(failed(run))


def test_a_guest_paused_on_a_disk_error_fails_even_with_every_record_kept() -> None:
    run = dataclasses.replace(good_run(), guest_states={"vnode2": None, "vnode3": "paused (I/O error)"})
    assert failed(run) == ["live: running, not paused", "live: libvirt agrees"]


def test_a_freeze_over_budget_fails_only_the_budget() -> None:
    assert failed(good_run(freeze_ms=450)) == ["budget: freeze"]
    assert failed(good_run(freeze_ms=450), Budget(freeze_ms=500, disk_stall_ms=15000)) == []


def test_a_missing_record_or_a_check_that_misses_the_move_fails() -> None:
    lost = dataclasses.replace(good_run(), verification=Verification(179, 1, 179, missing=[150]))
    assert failed(lost) == ["nothing lost: records"]
    # The ring no longer holds what was written before the move: the check proves too little.
    short = dataclasses.replace(good_run(), verification=Verification(179, 120, 179))
    assert failed(short) == ["nothing lost: records"]


def test_leftovers_failures_and_a_degraded_drbd_fail_the_clean_check() -> None:
    run = good_run()
    run.leftovers = {"hv": [Location("cli-prefer-guest", "guest", "vnode3", "INFINITY", "Started")], "nas": []}
    run.failures = {"hv": [], "nas": [Failure("nfs_server_stop_0", "nas2", "error")]}
    run.drbd_after = {"nas1": HEALTHY, "nas2": dataclasses.replace(HEALTHY, connection="WFConnection")}
    assert failed(run) == [
        "clean: no failed actions",
        "clean: no leftover constraints",
        "clean: DRBD UpToDate/UpToDate",
    ]


def test_a_guest_that_never_came_back_fails_resumed_and_disk_stall() -> None:
    run = good_run()
    run.samples = run.samples[:400]
    run.analysis = analyze(run.samples, interval_ms=5, end_ns=run.samples[-1].host_ns + 20_000 * MS)
    assert {"live: heartbeats resumed", "budget: freeze", "budget: disk stall"} <= set(failed(run))


def test_report_files_and_summary(tmp_path: Path) -> None:
    run = good_run()
    figures = run.figures()
    assert figures["largest_freeze_ms"] == pytest.approx(150, abs=0.5)
    assert figures["libvirt_downtime_ms"] == 120 and figures["libvirt_data_mib"] == 90.0
    assert figures["libvirt_passes"] == 4 and figures["libvirt_mibs"] == 30.0
    assert figures["move_s"] == 2.0 and figures["records_missing"] == 0
    document = json.loads(move_report.write_json(tmp_path / "run.json", run, {"x": "ok"}).read_text())
    assert document["figures"] == json.loads(json.dumps(figures))
    assert document["pacemaker_actions"][0]["operation"] == "migrate_to"
    assert len(document["heartbeats"]["seq"]) == 800
    png = move_report.write_png(tmp_path / "run.png", run)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = [
        {"scenario": "hypervisor_move", "load_mibs": 0, "repeat": i, "outcome": "passed",
         "figures": {**figures, "largest_freeze_ms": value}}
        for i, value in enumerate([100.0, 200.0, 300.0], 1)
    ]  # fmt: skip
    # A run that failed (the guest never came back): its freeze is no cost of a move.
    rows.append({**rows[0], "repeat": 4, "outcome": "failed", "figures": {**figures, "largest_freeze_ms": 9e5}})
    table = move_report.summary_markdown(rows)
    assert table.count("| hypervisor_move | 0 |") == 5  # four runs and one p50/p95 line
    assert "| hypervisor_move | 0 | 3 of 4 | 200.0 / 300.0 |" in table


def test_a_summary_from_run_files_reads_libvirt_from_its_own_record(tmp_path: Path) -> None:
    run = good_run()
    passed = move_report.write_json(tmp_path / "a.json", run, {"live: same boot": "ok: one boot"})
    failed = move_report.write_json(tmp_path / "b.json", run, {"live: same boot": "FAILED: two boots"})
    document = json.loads(passed.read_text())
    document["figures"]["libvirt_data_mib"] = 192.0  # as files written before data_processed was used
    passed.write_text(json.dumps(document))
    table = move_report.summary_from_files([passed, failed])
    assert f"| {tmp_path.name}/a | passed | 150.0 |" in table and f"| {tmp_path.name}/b | failed |" in table
    assert "| hypervisor_move | 0 | 1 of 2 |" in table
    assert "192.0" not in table and "90.0" in table
    junk = tmp_path / "notes.json"
    junk.write_text("[]")
    with pytest.raises(move_report.ReportError, match=r"notes\.json: not a move run file"):
        move_report.summary_from_files([passed, junk])
