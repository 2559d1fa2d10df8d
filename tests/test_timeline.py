"""The observer's arithmetic on synthetic heartbeat streams with known answers."""

from __future__ import annotations

import dataclasses

import pytest

from harness.probe.heartbeat import FLAG_DISK, Heartbeat
from harness.probe.observer import Marker, Sample
from harness.probe.stats import percentile
from harness.probe.timeline import analyze

MS = 1_000_000
BOOT = "11" * 16
OTHER_BOOT = "22" * 16


def beat(seq: int, host_ms: float, boot: str = BOOT, **fields: int) -> Sample:
    """Heartbeat `seq` arriving at `host_ms`; the guest's clocks agree with the host's unless told."""
    values = {
        "mono_ns": int(host_ms * MS),
        "wall_ns": int(host_ms * MS),
        "uptime_ns": int(host_ms * MS),
        "last_ack": 0,
        "max_write_latency_us": 0,
        "inflight_us": 0,
        "disk_errors": 0,
        "flags": FLAG_DISK,
    }
    values.update(fields)
    return Sample(int(host_ms * MS), Heartbeat(seq=seq, boot_id=boot, **values))


def steady(count: int, interval_ms: float = 5, start_seq: int = 1, start_ms: float = 0) -> list[Sample]:
    return [beat(start_seq + i, start_ms + i * interval_ms) for i in range(count)]


def test_steady_stream_has_no_freeze_and_no_loss() -> None:
    result = analyze(steady(200), interval_ms=5)
    assert result.received == 200
    assert (result.lost, result.duplicates, result.reordered) == (0, 0, 0)
    assert result.freezes == []
    assert result.largest_gap_ms == pytest.approx(5)
    assert result.largest_freeze_ms == pytest.approx(0)
    assert result.gap_p50_ms == pytest.approx(5)
    assert result.resumed


def test_pause_in_the_middle_is_one_freeze_of_gap_minus_interval() -> None:
    # The guest is frozen for 300 ms: seq 11 arrives 305 ms after seq 10.
    samples = steady(10) + steady(10, start_seq=11, start_ms=45 + 305)
    result = analyze(samples, interval_ms=5)
    [window] = result.freezes
    assert window.gap_ms == pytest.approx(305)
    assert window.freeze_ms == pytest.approx(300)
    assert result.largest_freeze_ms == pytest.approx(300)
    assert (window.seq_before, window.seq_after, window.lost) == (10, 11, 0)
    assert result.lost == 0


def test_losses_inside_a_gap_are_counted_per_window_and_overall() -> None:
    samples = steady(10) + steady(10, start_seq=18, start_ms=45 + 40)  # 11..17 never arrive
    result = analyze(samples, interval_ms=5)
    [window] = result.freezes
    assert window.lost == 7
    assert result.lost == 7
    assert window.freeze_ms == pytest.approx(35)


def test_duplicates_are_dropped_and_do_not_hide_a_gap() -> None:
    samples = steady(10)
    # A duplicate of seq 10 arriving mid-pause must not split the 200 ms gap.
    samples.append(dataclasses.replace(samples[-1], host_ns=samples[-1].host_ns + 100 * MS))
    samples += steady(5, start_seq=11, start_ms=45 + 200)
    result = analyze(samples, interval_ms=5)
    assert result.duplicates == 1
    assert result.received == 15
    assert result.largest_gap_ms == pytest.approx(200)


def test_reordered_packets_are_counted_not_lost() -> None:
    samples = steady(20)
    samples[5], samples[6] = (
        dataclasses.replace(samples[6], host_ns=samples[5].host_ns),
        dataclasses.replace(samples[5], host_ns=samples[6].host_ns),
    )
    result = analyze(samples, interval_ms=5)
    assert result.reordered == 1
    assert result.lost == 0
    assert result.duplicates == 0


def test_pause_at_the_start_is_measured_from_the_first_arrival() -> None:
    samples = [beat(1, 0), *steady(10, start_seq=2, start_ms=500)]
    result = analyze(samples, interval_ms=5)
    [window] = result.freezes
    assert window.start_ns == 0
    assert window.freeze_ms == pytest.approx(495)


def test_silence_at_the_end_is_an_open_window_when_the_run_end_is_known() -> None:
    samples = steady(10)  # last arrival at 45 ms
    result = analyze(samples, interval_ms=5, end_ns=1045 * MS)
    window = result.freezes[-1]
    assert not window.resumed
    assert not result.resumed
    assert window.gap_ms == pytest.approx(1000)
    assert result.largest_freeze_ms == pytest.approx(995)
    # Without an end, the same stream simply stops: no freeze is invented.
    assert analyze(samples, interval_ms=5).freezes == []


def test_guest_clock_jumps_do_not_change_the_freeze() -> None:
    # The guest's wall clock is stepped by an hour and its monotonic clock
    # stood still while it was paused (kvmclock does): host arrivals decide.
    before = steady(10)
    after = [
        beat(11 + i, 45 + 250 + i * 5, mono_ns=(50 + i * 5) * MS, wall_ns=(3_600_000 + i * 5) * MS,
             uptime_ns=(50 + i * 5) * MS)
        for i in range(10)
    ]  # fmt: skip
    result = analyze(before + after, interval_ms=5)
    [window] = result.freezes
    assert window.freeze_ms == pytest.approx(245)
    assert window.guest_gap_ms == pytest.approx(5)
    assert result.guest_minus_host_ms == pytest.approx(5 - 250)
    assert result.uptime_regressions == 0


def test_guest_monotonic_going_backwards_gives_no_guest_gap() -> None:
    samples = [*steady(5), beat(6, 20 + 100, mono_ns=0)]
    [window] = analyze(samples, interval_ms=5).freezes
    assert window.guest_gap_ms is None
    assert window.freeze_ms == pytest.approx(95)


def test_a_reboot_changes_boot_id_and_restarts_sequence_without_counting_loss() -> None:
    samples = steady(10) + [beat(1 + i, 2000 + i * 5, boot=OTHER_BOOT, uptime_ns=i * 5 * MS) for i in range(10)]
    result = analyze(samples, interval_ms=5)
    assert result.boot_ids == [BOOT, OTHER_BOOT]
    assert [c.boot_id for c in result.boot_changes] == [OTHER_BOOT]
    assert result.boot_changes[0].host_ns == 2000 * MS
    assert result.lost == 0
    [window] = result.freezes
    assert window.lost is None  # sequences of two boots cannot be compared
    assert window.guest_gap_ms is None


def test_uptime_going_backwards_within_one_boot_is_counted() -> None:
    samples = [*steady(10), beat(11, 50, uptime_ns=1 * MS)]
    assert analyze(samples, interval_ms=5).uptime_regressions == 1


def test_disk_figures_from_acks_and_latencies() -> None:
    # An ack every 20 ms, then from 200 ms one write hangs until 1200 ms.
    samples = []
    ack = 0
    for i in range(300):
        t = i * 5.0
        stalled = 200 <= t < 1200
        if i % 4 == 0 and not stalled:
            ack += 1
        inflight = int((t - 200) * 1000) if stalled else 0
        samples.append(beat(i + 1, t, last_ack=ack, max_write_latency_us=800, inflight_us=inflight))
    disk = analyze(samples, interval_ms=5).disk
    assert disk is not None
    assert disk.last_ack == ack
    assert disk.max_write_latency_ms == pytest.approx(995)  # the hung write, seen at 1195 ms
    assert disk.longest_without_ack_ms == pytest.approx(1200 - 180)  # last ack before it at 180 ms


def test_no_disk_flag_means_no_disk_figures() -> None:
    samples = [beat(i + 1, i * 5, flags=0) for i in range(10)]
    assert analyze(samples, interval_ms=5).disk is None


def test_threshold_decides_what_is_a_freeze_window() -> None:
    samples = steady(10) + steady(10, start_seq=11, start_ms=45 + 20)
    assert analyze(samples, interval_ms=5).freezes == []  # default 5 intervals = 25 ms
    assert len(analyze(samples, interval_ms=5, threshold_ms=10).freezes) == 1


def test_markers_travel_with_the_analysis() -> None:
    markers = [Marker(10 * MS, "move requested"), Marker(40 * MS, "move done")]
    result = analyze(steady(10), interval_ms=5, markers=markers)
    assert [m.label for m in result.markers] == ["move requested", "move done"]
    assert result.to_dict()["markers"][0]["label"] == "move requested"


def test_percentile_is_nearest_rank() -> None:
    values = list(range(1, 101))
    assert percentile(values, 50) == 50
    assert percentile(values, 99) == 99
    assert percentile(values, 100) == 100
    assert percentile([], 50) == 0.0
