"""Judging runs from their records, on made-up runs with known answers: each verdict is seen to fail.

A good live migration passes every verdict; each run below breaks one thing and must fail the
verdict that names it (and, where it matters, only that one).
"""

from __future__ import annotations

import dataclasses
import json
import struct
import zlib
from pathlib import Path

import pytest

from harness.cluster.drbd import DrbdState
from harness.cluster.placement import Command, Placement
from harness.cluster.state import Failure, Location
from harness.cluster.watch import Change
from harness.config.budgets import Budget, load_budget
from harness.judging import summary
from harness.judging.json_report import write_run_json
from harness.judging.png_report import write_run_png
from harness.judging.verdicts import (
    DISK_RESUMED,
    DISK_STALL,
    DRBD_HEALTHY,
    FREEZE,
    LIBVIRT,
    MIGRATED,
    NO_FAILED_ACTIONS,
    NO_LEFTOVERS,
    ONE_GUEST,
    ORDER,
    OUTAGE_RESUME,
    PLACED,
    PLANTED,
    RECORDS,
    RESTARTED,
    RESUMED,
    RUNNING,
    SAME_BOOT,
    judge,
)
from harness.measure import window
from harness.measure.expectations import Expectations
from harness.measure.record import Action, RunRecord
from harness.probe.records import MAGIC, SIZE, Verification, verify_boots
from harness.probe.timeline import analyze, noise
from harness.runs.moves import SCENARIOS
from tests.test_timeline import BOOT, MS, OTHER_BOOT, beat

S = 1000 * MS
HEALTHY = DrbdState("Connected", "Primary", "Secondary", "UpToDate", "UpToDate")
BUDGET = Budget(freeze_ms=300, disk_stall_ms=15000)
SCENARIO = SCENARIOS["hypervisor_move"]
EXPECT = SCENARIO.expectations(BUDGET)


def finish(run: RunRecord) -> RunRecord:
    """Analyse the run's samples over its window, as window.record does."""
    run.analysis = analyze(run.samples, interval_ms=5, start_ns=run.window_ns, end_ns=run.ended_ns)
    run.baseline = noise(run.samples, run.window_ns, run.started_ns, 5)
    return run


def good_run(freeze_ms: float = 150) -> RunRecord:
    """vnode2 -> vnode3 by migration: a quiet second, one freeze, same boot, the disk writing, every record kept."""
    samples = [beat(i + 1, i * 5, last_ack=i // 10 + 100) for i in range(400)]
    resume = 400 * 5 + freeze_ms
    samples += [beat(401 + i, resume + i * 5, last_ack=140 + i // 10) for i in range(800)]
    run = RunRecord("hypervisor_move", 0, "kvm", before=SCENARIO.start, after=SCENARIO.end)
    run.window_ns, run.started_ns, run.idle_ns, run.ack_before = 0, 1000 * MS, 3000 * MS, 100
    run.ended_ns = samples[-1].host_ns
    run.samples = samples
    run.actions = [
        Action("guest", "vnode2", "migrate_to", 0, 1500 * MS, 2000 * MS),
        Action("guest", "vnode3", "migrate_from", 0, 2000 * MS, 2100 * MS),
        Action("guest", "vnode2", "stop", 0, 2100 * MS, 2200 * MS),
    ]
    run.migration = {"type": 3, "downtime": 120, "downtime_net": 110, "time_elapsed": 4000,
                     "data_total": 192 << 20, "data_processed": 90 << 20, "memory_iteration": 4,
                     "memory_bps": 30 << 20}  # fmt: skip
    run.guest_states = {"vnode2": None, "vnode3": "running"}
    run.failures = {"hv": [], "nas": []}
    run.leftovers = {"hv": [], "nas": []}
    run.drbd_after = {"nas1": HEALTHY, "nas2": dataclasses.replace(HEALTHY, role="Secondary", peer_role="Primary")}
    run.split_brain = {"nas1": [], "nas2": []}
    run.verifications = [Verification(upto=219, first_checked=100, newest_on_disk=219, boot_id=BOOT)]
    return finish(run)


def failed(run: RunRecord, expect: Expectations = EXPECT) -> list[str]:
    return [v.name for v in judge(run, expect) if not v.ok]


def test_a_live_migration_within_budget_passes_every_verdict() -> None:
    verdicts = judge(good_run(), EXPECT)
    assert [v.name for v in verdicts if not v.ok] == []
    assert {SAME_BOOT, MIGRATED, LIBVIRT, DISK_RESUMED, RECORDS, FREEZE, ONE_GUEST} <= {v.name for v in verdicts}


def test_a_stop_and_start_relocation_fails_as_not_live() -> None:
    run = good_run()
    restarted = [beat(i + 1, 3000 + i * 5, boot=OTHER_BOOT, last_ack=180 + i, uptime_ns=i * 5 * MS) for i in range(900)]
    run.samples = run.samples[:400] + restarted
    run.ended_ns = run.samples[-1].host_ns
    run.actions = [
        Action("guest", "vnode2", "stop", 0, 1500 * MS, 2000 * MS),
        Action("guest", "vnode3", "start", 0, 2000 * MS, 2900 * MS),
    ]
    broken = failed(finish(run))
    assert SAME_BOOT in broken and MIGRATED in broken


def test_a_guest_still_on_the_source_fails() -> None:
    run = dataclasses.replace(good_run(), after=SCENARIO.start, guest_states={"vnode2": "running", "vnode3": None})
    assert {PLACED, LIBVIRT} <= set(failed(run))


def test_a_guest_paused_on_a_disk_error_fails_even_with_every_record_kept() -> None:
    run = dataclasses.replace(good_run(), guest_states={"vnode2": None, "vnode3": "paused (I/O error)"})
    assert failed(run) == [RUNNING, LIBVIRT]


def test_a_freeze_over_budget_fails_only_the_budget() -> None:
    assert failed(good_run(freeze_ms=450)) == [FREEZE]
    assert failed(good_run(freeze_ms=450), dataclasses.replace(EXPECT, budget=Budget(500, 15000))) == []


def test_a_missing_record_or_a_check_that_misses_the_move_fails() -> None:
    lost = dataclasses.replace(good_run(), verifications=[Verification(219, 100, 219, missing=[150], boot_id=BOOT)])
    assert failed(lost) == [RECORDS]
    # The ring no longer holds what was written before the move: the check proves too little.
    short = dataclasses.replace(good_run(), verifications=[Verification(219, 120, 219, boot_id=BOOT)])
    assert failed(short) == [RECORDS]
    unchecked = dataclasses.replace(good_run(), verifications=[])
    assert failed(unchecked) == [RECORDS]


def test_leftovers_failures_and_a_degraded_drbd_fail_the_clean_check() -> None:
    run = good_run()
    run.leftovers = {"hv": [Location("cli-prefer-guest", "guest", "vnode3", "INFINITY", "Started")], "nas": []}
    run.failures = {"hv": [], "nas": [Failure("nfs_server_stop_0", "nas2", "error")]}
    run.drbd_after = {"nas1": HEALTHY, "nas2": dataclasses.replace(HEALTHY, connection="WFConnection")}
    assert failed(run) == [NO_FAILED_ACTIONS, NO_LEFTOVERS, DRBD_HEALTHY]


def test_a_guest_that_never_came_back_fails_resumed_disk_and_budgets() -> None:
    run = good_run()
    run.samples = run.samples[:400]
    run.ended_ns = run.samples[-1].host_ns + 20_000 * MS
    assert {RESUMED, FREEZE, DISK_STALL, DISK_RESUMED} <= set(failed(finish(run)))


def disk_stalled_run(stall_s: float) -> RunRecord:
    """The guest heartbeating every 5 ms throughout, its disk acknowledging nothing for `stall_s`
    after the move starts (at 1 s), then writing again."""
    run = good_run()
    start_ms, end_ms = 1000, 1000 + stall_s * 1000 + 2000
    samples, ack = [], 100
    for i in range(int(end_ms // 5)):
        at_ms = i * 5
        if not start_ms <= at_ms < start_ms + stall_s * 1000 and i % 10 == 0:
            ack += 1
        samples.append(beat(i + 1, at_ms, last_ack=ack))
    run.samples, run.ended_ns = samples, samples[-1].host_ns
    run.idle_ns = int((start_ms + stall_s * 1000) * MS)
    return finish(run)


def test_the_shipped_tcg_nas_move_budget_fails_a_stall_beyond_it_and_passes_the_new_chains() -> None:
    budget = load_budget("tcg", "nas_move")
    expect = dataclasses.replace(EXPECT, budget=budget)
    # 160 s: far below the old chain's 520-595 s (its 900 s budget let it pass), above the new bound.
    assert DISK_STALL in failed(disk_stalled_run(160), expect)
    assert DISK_STALL not in failed(disk_stalled_run(101), expect)  # the new chain's worst of six


# --- the three false passes -----------------------------------------------------------------------


def stuck_disk_run() -> RunRecord:
    """Heartbeats go on, no error, but no record is acknowledged after the move: a hard mount that never answers."""
    run = good_run()
    run.samples = [dataclasses.replace(s, hb=dataclasses.replace(s.hb, last_ack=min(s.hb.last_ack, 125)))
                   for s in run.samples]  # fmt: skip
    return finish(run)


def test_a_disk_that_never_comes_back_fails_disk_resumed_even_within_a_tcg_stall_budget() -> None:
    tcg = dataclasses.replace(EXPECT, budget=Budget(freeze_ms=5000, disk_stall_ms=900_000))
    assert failed(stuck_disk_run(), tcg) == [DISK_RESUMED]


def test_the_write_in_flight_when_the_disk_went_away_is_no_resumption() -> None:
    """The disk_gone control's race: the record on its way when NFS was cut is acknowledged just after idle."""
    run = good_run()
    idle_ack = max(s.hb.last_ack for s in run.samples if s.host_ns <= run.idle_ns)
    run.samples = [dataclasses.replace(s, hb=dataclasses.replace(s.hb, last_ack=min(s.hb.last_ack, idle_ack + 1)))
                   for s in run.samples]  # fmt: skip
    assert failed(finish(run)) == [DISK_RESUMED]
    run = good_run()  # the next record after it, though, was written after idle: resumed
    assert DISK_RESUMED not in failed(run)


def test_no_freeze_budget_above_ten_seconds_but_where_the_guest_restarts() -> None:
    for accel in ("kvm", "tcg"):
        for name in [*SCENARIOS, "nas_crash", "replication_cut", "migrate_in_grace"]:
            assert load_budget(accel, name).freeze_ms <= 10_000, (accel, name)
        assert load_budget(accel, "both_move").freeze_ms <= load_budget(accel, "hypervisor_move").freeze_ms


def both_run(stop_at_ms: float, switchover_end_ms: float = 2000, nfs_requested_ms: float | None = None) -> RunRecord:
    """The migration's switchover freezes the guest 2000-2150 ms; the NFS move is requested at `nfs_requested_ms`."""
    run = good_run()
    requested = int((nfs_requested_ms if nfs_requested_ms is not None else stop_at_ms - 200) * MS)
    run.commands = [
        Command("vnode3", "sudo crm_resource --move --resource guest --node vnode2", 1000 * MS, 2900 * MS, ""),
        Command("nas1", "sudo crm_resource --move --resource nfs --node nas2", requested, 9000 * MS, ""),
    ]
    run.scenario, run.before, run.after = "both_move", Placement("vnode3", "nas1"), Placement("vnode2", "nas2")
    run.guest_states = {"vnode3": None, "vnode2": "running"}
    run.actions = [
        Action("guest", "vnode3", "migrate_to", 0, 1500 * MS, int(switchover_end_ms * MS)),
        Action("nfs_ip", "nas1", "stop", 0, int(stop_at_ms * MS), int((stop_at_ms + 50) * MS)),
        Action("guest", "vnode2", "migrate_from", 0, int(switchover_end_ms * MS), 2900 * MS),
    ]
    return run


def test_both_move_in_the_safe_order_fails_when_the_nfs_stop_begins_before_the_switchover() -> None:
    expect = SCENARIOS["both_move"].expectations(Budget(5000, 900_000))
    assert expect.freeze_budget and expect.nfs_stop_after_switchover
    assert failed(both_run(stop_at_ms=2500), expect) == []
    # Requested while the migration was still copying: the NFS stop may beat the switchover.
    assert failed(both_run(stop_at_ms=1800), expect) == [ORDER]
    # Requested during the switchover's own freeze (the guest not yet running on the target).
    assert failed(both_run(stop_at_ms=2500, nfs_requested_ms=2100), expect) == [ORDER]
    # A larger freeze well after the migration (a TCG hiccup during the NFS move) is no switchover.
    hiccup = both_run(stop_at_ms=2500)
    hiccup.samples = [s for s in hiccup.samples if not 4000 * MS < s.host_ns < 4600 * MS]
    assert failed(finish(hiccup), expect) == []


def outage_run(stop_ms: float, resume_ms: float, served_ms: float) -> RunRecord:
    """The guest stops at `stop_ms` and runs again at `resume_ms`; NFS closed at 1200 ms, served at `served_ms`."""
    run = both_run(stop_at_ms=1200)
    run.scenario = "both_move_in_outage"
    run.before, run.after = Placement("vnode2", "nas2"), Placement("vnode3", "nas1")
    run.guest_states = {"vnode2": None, "vnode3": "running"}
    run.actions = [
        Action("guest", "vnode2", "migrate_to", 0, 1100 * MS, int(resume_ms * MS)),
        Action("nfs_ip", "nas2", "stop", 0, 1200 * MS, 1250 * MS),
        Action("guest", "vnode3", "migrate_from", 0, int(resume_ms * MS), int(resume_ms * MS) + 100 * MS),
    ]
    stop = int(stop_ms // 5)
    run.samples = [beat(i + 1, i * 5, last_ack=100 + i // 10) for i in range(stop)]
    run.samples += [beat(stop + 1 + i, resume_ms + i * 5, last_ack=100 + stop // 10 + i // 10) for i in range(800)]
    run.ended_ns = run.samples[-1].host_ns
    run.idle_ns = int(resume_ms * MS)
    # The watcher sees both late; Pacemaker's own times are what count.
    run.changes = [
        Change(5200 * MS, "nas", "nfs_ip", "Started nas2", "Stopping nas2"),
        Change(int((served_ms + 8000) * MS), "nas", "nfs_ip", "Starting nas1", "Started nas1"),
    ]
    run.actions.append(Action("nfs_ip", "nas1", "start", 0, int((served_ms - 800) * MS), int(served_ms * MS)))
    run.verifications = [Verification(100 + (stop + 800) // 10, 100, 300, boot_id=BOOT)]
    return finish(run)


def test_the_outage_run_is_judged_by_its_own_verdicts_not_a_freeze_budget() -> None:
    expect = SCENARIOS["both_move_in_outage"].expectations(Budget(5000, 900_000))
    assert not expect.freeze_budget and expect.resume_after_served_s == 10.0
    # Stopped inside the outage for 60 s, running again 3 s after NFS served: survives, judged ok.
    assert failed(outage_run(stop_ms=1500, resume_ms=61_500, served_ms=58_500), expect) == []
    # Still stopped 20 s after NFS served: the guest paid more than the outage.
    assert failed(outage_run(stop_ms=1500, resume_ms=61_500, served_ms=41_500), expect) == [OUTAGE_RESUME]
    # A freeze that began before the port closed is not the outage kind the run names.
    assert failed(outage_run(stop_ms=1000, resume_ms=61_500, served_ms=58_500), expect) == [OUTAGE_RESUME]
    # Without Pacemaker's operations the watcher's late view is used (here: closed only at 5.2 s).
    late = outage_run(stop_ms=1500, resume_ms=61_500, served_ms=58_500)
    late.actions = [x for x in late.actions if x.resource != "nfs_ip"]
    assert failed(late, expect) == [OUTAGE_RESUME]


def record_block(seq: int, boot: str) -> bytes:
    """One slot as the probe writes it (provision/host/guest/probe/wire.h)."""
    block = bytearray(SIZE)
    struct.pack_into("!4sIQ16sQQ", block, 0, MAGIC, 1, seq, bytes.fromhex(boot), seq, seq)
    struct.pack_into("!I", block, 4092, zlib.crc32(bytes(block[:4092])))
    return bytes(block)


def test_a_restart_that_reuses_the_numbers_of_lost_records_fails_the_records_verdict(tmp_path: Path) -> None:
    """The old boot acknowledged 1..20, only 1..17 reached the disk; the restarted probe wrote 18..30."""
    ring = 64
    slots = [bytes(SIZE)] * ring
    for seq in range(1, 18):
        slots[seq] = record_block(seq, BOOT)
    for seq in range(18, 31):
        slots[seq] = record_block(seq, OTHER_BOOT)
    image = tmp_path / "disk.img"
    image.write_bytes(b"".join(slots))
    old = [beat(i + 1, i * 5, last_ack=1 + i // 10) for i in range(200)]  # acknowledges up to 20
    new = [beat(i + 1, 3000 + i * 5, boot=OTHER_BOOT, last_ack=17 + i // 10) for i in range(140)]  # 17 first, then 30
    run = RunRecord("hypervisor_crash", 0, "tcg", before=Placement("vnode2", "nas2"), after=Placement("vnode3", "nas2"))
    run.samples, run.ack_before = old + new, 1
    run.window_ns, run.started_ns, run.idle_ns, run.ended_ns = 0, 500 * MS, 3100 * MS, new[-1].host_ns
    finish(run)
    assert window.boot_ranges(run) == [(BOOT, 1, 20), (OTHER_BOOT, 18, 30)]
    run.verifications = verify_boots(image, window.boot_ranges(run), ring=ring)
    old_boot, new_boot = run.verifications
    assert old_boot.foreign == [18, 19, 20] and not old_boot.ok
    assert new_boot.ok and new_boot.checked == 13
    verdicts = {v.name: v for v in judge(run, Expectations(end=run.after, budget=Budget(240_000, 240_000), restarts=1))}
    assert verdicts[RESTARTED].ok
    assert not verdicts[RECORDS].ok and "overwritten by another boot (18, 19, 20)" in verdicts[RECORDS].detail
    # Without the boot's id the reused numbers pass: the false pass this closes.
    assert verify_boots(image, [(None, 1, 20)], ring=ring)[0].ok


def test_the_restarts_own_stall_counts_its_first_report_is_no_progress() -> None:
    old = [beat(i + 1, i * 5, last_ack=1 + i // 10) for i in range(200)]
    new = [beat(i + 1, 60_000 + i * 5, boot=OTHER_BOOT, last_ack=17 + i // 10) for i in range(200)]
    disk = analyze(old + new, interval_ms=5).disk
    assert disk is not None
    # From the old boot's last write (~950 ms) to the new boot's first own one (60 s + 50 ms), not to its first report.
    assert disk.longest_without_ack_ms == pytest.approx(60_000 + 50 - 950, abs=10)


# --- also judged wrongly before ---------------------------------------------------------------------


def test_a_guest_already_frozen_when_the_window_opens_is_a_freeze() -> None:
    run = good_run()
    run.samples = [s for s in run.samples if s.host_ns >= 800 * MS]  # silent for the window's first 800 ms
    broken = failed(finish(run))
    assert broken == [FREEZE]
    assert run.analysis is not None and run.analysis.freezes[0].start_ns == 0
    assert run.analysis.largest_freeze_ms == pytest.approx(795)


def test_a_window_with_no_heartbeat_at_all_is_one_open_freeze() -> None:
    result = analyze([], interval_ms=5, start_ns=0, end_ns=10 * S)
    assert not result.resumed and result.largest_freeze_ms == pytest.approx(9995)


def test_a_second_copy_of_the_guest_fails_one_guest() -> None:
    run = good_run()
    copy = [dataclasses.replace(s, host_ns=s.host_ns + 2 * MS) for s in run.samples[500:520]]
    run.samples = sorted(run.samples + copy, key=lambda s: s.host_ns)
    assert failed(finish(run)) == [ONE_GUEST]
    run = good_run()
    late = [beat(300 + i, 2600 + i, last_ack=130) for i in range(5)]  # older numbers interleaving later
    run.samples = sorted(run.samples + late, key=lambda s: s.host_ns)
    assert failed(finish(run)) == [ONE_GUEST]


def test_the_freeze_is_reported_beside_the_baselines_noise() -> None:
    run = good_run(freeze_ms=250)
    noisy = run.samples[:100] + [dataclasses.replace(s, host_ns=s.host_ns + 300 * MS) for s in run.samples[100:]]
    run.samples = noisy
    finish(run)
    [freeze] = [v for v in judge(run, EXPECT) if v.name == FREEZE]
    assert "inside that noise" in freeze.detail and "1 gaps >= 100 ms" in freeze.detail
    [clean] = [v for v in judge(good_run(freeze_ms=250), EXPECT) if v.name == FREEZE]
    assert "stands out of that noise" in clean.detail


def test_a_planted_freeze_must_be_measured_within_the_baselines_error() -> None:
    run = good_run(freeze_ms=8000)
    planted = dataclasses.replace(EXPECT, budget=Budget(5000, 15000), planted_freeze_ms=8000)
    verdicts = {v.name: v for v in judge(run, planted)}
    assert verdicts[PLANTED].ok and not verdicts[FREEZE].ok
    wrong = dataclasses.replace(planted, planted_freeze_ms=6000)
    assert not {v.name: v for v in judge(run, wrong)}[PLANTED].ok


# --- reports ----------------------------------------------------------------------------------------


def test_report_files_and_a_summary_over_every_run(tmp_path: Path) -> None:
    run = good_run()
    figures = run.figures()
    assert figures["largest_freeze_ms"] == pytest.approx(150, abs=0.5)
    assert figures["libvirt_downtime_ms"] == 120 and figures["libvirt_data_mib"] == 90.0
    assert figures["move_s"] == 2.0 and figures["records_missing"] == 0
    assert figures["disk_resumed_s"] is not None and figures["baseline_freeze_ms"] == pytest.approx(0)
    document = json.loads(write_run_json(tmp_path / "run.json", run, {"x": "ok"}, "passed").read_text())
    assert document["figures"] == json.loads(json.dumps(figures))
    assert document["pacemaker_actions"][0]["operation"] == "migrate_to"
    assert document["records"][0]["boot_id"] == BOOT and document["outcome"] == "passed"
    png = write_run_png(tmp_path / "run.png", run)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = [
        {"scenario": "hypervisor_move", "load_mibs": 0, "repeat": i, "outcome": "passed",
         "figures": {**figures, "largest_freeze_ms": value}}
        for i, value in enumerate([100.0, 200.0, 300.0], 1)
    ]  # fmt: skip
    rows.append({**rows[0], "repeat": 4, "outcome": "failed", "figures": {**figures, "largest_freeze_ms": 9e5}})
    table = summary.summary_markdown(rows)
    # p95 over all four runs: the failed one is in it, counted and named, not left out.
    assert "| hypervisor_move | 0 | 4 | 1: 4 (failed) | 200.0 / 900000.0 |" in table


def test_a_summary_from_run_files_reads_libvirt_from_its_own_record(tmp_path: Path) -> None:
    run = good_run()
    passed = write_run_json(tmp_path / "a.json", run, {SAME_BOOT: "ok: one boot"})
    failed_file = write_run_json(tmp_path / "b.json", run, {SAME_BOOT: "FAILED: two boots"})
    document = json.loads(passed.read_text())
    document["figures"]["libvirt_data_mib"] = 192.0  # as files written before data_processed was used
    passed.write_text(json.dumps(document))
    table = summary.summary_from_files([passed, failed_file])
    assert f"| {tmp_path.name}/a | passed | 150.0 |" in table and f"| {tmp_path.name}/b | failed |" in table
    assert f"| hypervisor_move | 0 | 2 | 1: {tmp_path.name}/b (failed) |" in table
    assert "192.0" not in table and "90.0" in table
    junk = tmp_path / "notes.json"
    junk.write_text("[]")
    with pytest.raises(summary.ReportError, match=r"notes\.json: not a move run file"):
        summary.summary_from_files([passed, junk])
