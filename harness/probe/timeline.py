"""What a heartbeat timeline says: freezes, losses, disk stalls, reboots.

Every duration here is measured on the host's clock (arrival times). The
guest's own clocks stop while its VM is paused, so they are reported next to
the host's figures, never used to judge a freeze.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

from harness.probe.disk import DiskFigures, disk_figures
from harness.probe.observer import Marker, Sample
from harness.probe.stats import NS_PER_MS, percentile


@dataclass(frozen=True)
class FreezeWindow:
    """A gap between two heartbeat arrivals longer than the threshold."""

    start_ns: int
    end_ns: int | None  # None: no heartbeat came back before the window closed
    gap_ms: float
    freeze_ms: float  # the gap less one heartbeat interval
    seq_before: int
    seq_after: int | None
    lost: int | None  # heartbeats sent in the gap that never arrived (same boot only)
    guest_gap_ms: float | None  # the same gap on the guest's monotonic clock

    @property
    def resumed(self) -> bool:
        return self.end_ns is not None


@dataclass(frozen=True)
class Noise:
    """The same figures over a quiet stretch: how large a gap the guest shows when nothing moves."""

    seconds: float
    received: int
    largest_gap_ms: float
    largest_freeze_ms: float
    gap_p99_ms: float
    gaps_over_100ms: int


@dataclass(frozen=True)
class BootChange:
    host_ns: int
    boot_id: str


@dataclass(frozen=True)
class Analysis:
    interval_ms: float
    threshold_ms: float
    received: int
    duplicates: int
    reordered: int
    lost: int
    gap_p50_ms: float
    gap_p99_ms: float
    largest_gap_ms: float
    largest_freeze_ms: float
    freezes: list[FreezeWindow]
    guest_minus_host_ms: float | None  # for the largest freeze
    disk: DiskFigures | None
    boot_ids: list[str]
    boot_changes: list[BootChange]
    uptime_regressions: int  # within one boot, uptime went backwards
    resumed: bool  # heartbeats were arriving when the window closed
    markers: list[Marker] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def analyze(
    samples: Sequence[Sample],
    interval_ms: float,
    threshold_ms: float | None = None,
    end_ns: int | None = None,
    markers: Sequence[Marker] = (),
    start_ns: int | None = None,
) -> Analysis:
    """Analyse samples in arrival order.

    `threshold_ms` is the smallest gap reported as a freeze window (default
    five intervals). With `end_ns`, a silence from the last arrival to
    `end_ns` is an open freeze window: the guest did not come back. With
    `start_ns`, a silence from the window's start to the first arrival is a
    freeze too: a guest already frozen when the window opened.
    """
    threshold = threshold_ms if threshold_ms is not None else 5 * interval_ms
    unique, duplicates, reordered = _deduplicate(samples)
    lost = _lost(unique)
    gaps_ms = [(b.host_ns - a.host_ns) / NS_PER_MS for a, b in itertools.pairwise(unique)]
    freezes = [
        _window(a, b, gap, interval_ms)
        for (a, b), gap in zip(itertools.pairwise(unique), gaps_ms, strict=True)
        if gap > threshold
    ]
    if start_ns is not None:
        head_end = unique[0].host_ns if unique else end_ns
        if head_end is not None and (head_end - start_ns) / NS_PER_MS > threshold:
            freezes.insert(0, _opening(start_ns, unique[0] if unique else None, head_end, interval_ms))
    resumed = bool(unique) or (start_ns is None and end_ns is None)
    if unique and end_ns is not None:
        tail_ms = (end_ns - unique[-1].host_ns) / NS_PER_MS
        if tail_ms > threshold:
            freezes.append(_window(unique[-1], None, tail_ms, interval_ms))
            resumed = False
    largest = max(freezes, key=lambda w: w.gap_ms, default=None)
    largest_gap = max([*gaps_ms, *(w.gap_ms for w in freezes)], default=0.0)
    boot_ids, changes = _boots(unique)
    return Analysis(
        interval_ms=interval_ms,
        threshold_ms=threshold,
        received=len(unique),
        duplicates=duplicates,
        reordered=reordered,
        lost=lost,
        gap_p50_ms=percentile(gaps_ms, 50),
        gap_p99_ms=percentile(gaps_ms, 99),
        largest_gap_ms=largest_gap,
        largest_freeze_ms=max(0.0, largest_gap - interval_ms) if unique or freezes else 0.0,
        freezes=freezes,
        guest_minus_host_ms=(
            largest.guest_gap_ms - largest.gap_ms if largest and largest.guest_gap_ms is not None else None
        ),
        disk=disk_figures(unique, end_ns, start_ns),
        boot_ids=boot_ids,
        boot_changes=changes,
        uptime_regressions=_uptime_regressions(unique),
        resumed=resumed,
        markers=list(markers),
    )


def _deduplicate(samples: Sequence[Sample]) -> tuple[list[Sample], int, int]:
    seen: set[tuple[str, int]] = set()
    newest: dict[str, int] = {}
    unique: list[Sample] = []
    duplicates = reordered = 0
    for sample in samples:
        key = (sample.hb.boot_id, sample.hb.seq)
        if key in seen:
            duplicates += 1
            continue
        seen.add(key)
        if sample.hb.seq < newest.get(sample.hb.boot_id, 0):
            reordered += 1
        newest[sample.hb.boot_id] = max(newest.get(sample.hb.boot_id, 0), sample.hb.seq)
        unique.append(sample)
    return unique, duplicates, reordered


def _lost(unique: Sequence[Sample]) -> int:
    by_boot: dict[str, list[int]] = {}
    for sample in unique:
        by_boot.setdefault(sample.hb.boot_id, []).append(sample.hb.seq)
    return sum(max(seqs) - min(seqs) + 1 - len(seqs) for seqs in by_boot.values())


def _window(before: Sample, after: Sample | None, gap_ms: float, interval_ms: float) -> FreezeWindow:
    same_boot = after is not None and after.hb.boot_id == before.hb.boot_id
    forward = same_boot and after is not None and after.hb.seq > before.hb.seq
    return FreezeWindow(
        start_ns=before.host_ns,
        end_ns=after.host_ns if after else None,
        gap_ms=gap_ms,
        freeze_ms=max(0.0, gap_ms - interval_ms),
        seq_before=before.hb.seq,
        seq_after=after.hb.seq if after else None,
        lost=after.hb.seq - before.hb.seq - 1 if forward and after else None,
        guest_gap_ms=(
            (after.hb.mono_ns - before.hb.mono_ns) / NS_PER_MS
            if forward and after and after.hb.mono_ns >= before.hb.mono_ns
            else None
        ),
    )


def _opening(start_ns: int, first: Sample | None, end_ns: int, interval_ms: float) -> FreezeWindow:
    """The silence from the window's start to its first heartbeat (or to its end, if none came)."""
    gap_ms = (end_ns - start_ns) / NS_PER_MS
    return FreezeWindow(
        start_ns=start_ns,
        end_ns=first.host_ns if first else None,
        gap_ms=gap_ms,
        freeze_ms=max(0.0, gap_ms - interval_ms),
        seq_before=0,
        seq_after=first.hb.seq if first else None,
        lost=None,
        guest_gap_ms=None,
    )


def noise(samples: Sequence[Sample], start_ns: int, end_ns: int, interval_ms: float) -> Noise:
    """The heartbeat gaps of a quiet stretch [start_ns, end_ns]: the noise a freeze is measured against."""
    quiet, _, _ = _deduplicate([s for s in samples if start_ns <= s.host_ns <= end_ns])
    gaps_ms = [(b.host_ns - a.host_ns) / NS_PER_MS for a, b in itertools.pairwise(quiet)]
    largest = max(gaps_ms, default=0.0)
    return Noise(
        seconds=(end_ns - start_ns) / 1e9,
        received=len(quiet),
        largest_gap_ms=largest,
        largest_freeze_ms=max(0.0, largest - interval_ms),
        gap_p99_ms=percentile(gaps_ms, 99),
        gaps_over_100ms=sum(1 for g in gaps_ms if g >= 100),
    )


def _boots(unique: Sequence[Sample]) -> tuple[list[str], list[BootChange]]:
    boot_ids: list[str] = []
    changes: list[BootChange] = []
    for sample in unique:
        if not boot_ids:
            boot_ids.append(sample.hb.boot_id)
        elif sample.hb.boot_id != boot_ids[-1]:
            boot_ids.append(sample.hb.boot_id)
            changes.append(BootChange(sample.host_ns, sample.hb.boot_id))
    return boot_ids, changes


def _uptime_regressions(unique: Sequence[Sample]) -> int:
    newest: dict[str, tuple[int, int]] = {}  # boot -> (seq, uptime) of the newest seq seen
    regressions = 0
    for sample in unique:
        seq, uptime = sample.hb.seq, sample.hb.uptime_ns
        prior = newest.get(sample.hb.boot_id)
        if prior is None or seq > prior[0]:
            if prior is not None and uptime < prior[1]:
                regressions += 1
            newest[sample.hb.boot_id] = (seq, uptime)
    return regressions
