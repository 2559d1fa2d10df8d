"""What the heartbeats say of the guest's disk: acknowledged records, stalls, each boot's range.

A record counts as progress only when its own boot acknowledged it: a restarted probe first
reports the newest record an older boot left on disk.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from harness.probe.observer import Sample
from harness.probe.stats import NS_PER_MS


@dataclass(frozen=True)
class BootAcks:
    """What one boot of the guest reported acknowledged: its first report and its newest.

    A probe that starts reports the newest record already on disk (an older boot's) before
    it writes its own, so a later boot's own records begin after `first_reported`.
    """

    boot_id: str
    first_reported: int
    last_ack: int


@dataclass(frozen=True)
class DiskFigures:
    last_ack: int  # newest acknowledged record the guest reported, any boot
    max_write_latency_ms: float  # slowest single write, finished or still in flight
    longest_without_ack_ms: float  # host time between two advances of one boot's last_ack
    errors: int  # failed writes the guest reported
    boots: list[BootAcks] = field(default_factory=list)


def disk_figures(unique: Sequence[Sample], end_ns: int | None, start_ns: int | None = None) -> DiskFigures | None:
    """The disk's figures from the heartbeats that carry them; None when none does."""
    disk = [s for s in unique if s.hb.has_disk]
    if not disk:
        return None
    max_latency_us = max(max(s.hb.max_write_latency_us, s.hb.inflight_us) for s in disk)
    longest_ns = 0
    since = start_ns if start_ns is not None else disk[0].host_ns
    for at in progress_times(disk):
        longest_ns = max(longest_ns, at - since)
        since = at
    longest_ns = max(longest_ns, (end_ns if end_ns is not None else disk[-1].host_ns) - since)
    return DiskFigures(
        last_ack=max(s.hb.last_ack for s in disk),
        max_write_latency_ms=max_latency_us / 1000,
        longest_without_ack_ms=longest_ns / NS_PER_MS,
        errors=max(s.hb.disk_errors for s in disk),
        boots=boot_acks(disk),
    )


def progress_times(samples: Sequence[Sample]) -> list[int]:
    """Arrival times of the heartbeats that report a newly acknowledged record of their own boot."""
    return ack_progress((s.host_ns, s.hb.boot_id, s.hb.last_ack) for s in samples if s.hb.has_disk)


def ack_progress(acks: Iterable[tuple[int, str, int]]) -> list[int]:
    """The same from (arrival ns, boot id, last acknowledged record) triples, as a run's JSON holds them.

    A boot's first report is no progress: a restarted probe first reports the newest record
    an older boot left on disk, and counting that would hide the restart's stall.
    """
    newest: dict[str, int] = {}
    times: list[int] = []
    for host_ns, boot, ack in acks:
        prior = newest.get(boot, 0)
        if prior and ack > prior:
            times.append(host_ns)
        if ack > prior:
            newest[boot] = ack
    return times


class WriteAfter:
    """Whether the guest has acknowledged a record it *issued* after `after_ns` (host clock), fed
    one heartbeat at a time, so a wait can follow a live observer without rescanning its samples.

    The probe writes one record at a time, one every record interval: the record in flight
    at `after_ns` may still complete (its request left before a cut, its reply comes after),
    so only the one after it shows a disk that works after `after_ns`. A boot first heard
    after `after_ns` started after it: its first report is an older record, its next its own.
    """

    def __init__(self, after_ns: int) -> None:
        self.after_ns = after_ns
        self.newest: dict[str, int] = {}
        self.last: tuple[str, int] | None = None  # (boot, record) of the newest report

    def feed(self, sample: Sample) -> bool:
        """True when this heartbeat reports such a record."""
        if not sample.hb.has_disk or not sample.hb.last_ack:
            return False  # a probe scanning its ring reports 0
        boot, ack = sample.hb.boot_id, sample.hb.last_ack
        self.last = (boot, ack)
        if sample.host_ns <= self.after_ns:
            self.newest[boot] = max(self.newest.get(boot, 0), ack)
            return False
        if boot not in self.newest:
            self.newest[boot] = ack - 1  # a new boot: its next record is its own
            return False
        return ack >= self.newest[boot] + 2

    def where(self) -> str:
        return "no record reported" if self.last is None else f"stuck at record {self.last[1]} of boot {self.last[0]}"


def first_write_after(samples: Sequence[Sample], after_ns: int) -> int | None:
    """When the guest first acknowledged a record it issued after `after_ns` (host clock), if it did."""
    watch = WriteAfter(after_ns)
    return next((sample.host_ns for sample in samples if watch.feed(sample)), None)


def boot_acks(samples: Sequence[Sample]) -> list[BootAcks]:
    first: dict[str, int] = {}
    newest: dict[str, int] = {}
    for sample in samples:
        if not sample.hb.has_disk or not sample.hb.last_ack:
            continue  # a probe scanning its ring reports 0
        boot = sample.hb.boot_id
        first.setdefault(boot, sample.hb.last_ack)
        newest[boot] = max(newest.get(boot, 0), sample.hb.last_ack)
    return [BootAcks(boot, first[boot], newest[boot]) for boot in first]
