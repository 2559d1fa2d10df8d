"""Waiting for the guest's disk: an advance of this boot's own records, or a timeout that says where it stuck."""

from __future__ import annotations

import threading
import time

import pytest

from harness.measure.window import wait_for_disk_progress
from harness.probe.observer import Sample
from harness.waiting import WaitTimeout
from tests.test_timeline import BOOT, OTHER_BOOT, beat


class FeedObserver:
    """The two calls the wait makes of an Observer, over samples a test feeds in."""

    def __init__(self, samples: list[Sample]) -> None:
        self.samples = samples

    def wait_for_heartbeat(self, timeout: float, after_ns: int = 0) -> Sample:
        return self.samples[-1]

    def samples_since(self, index: int) -> list[Sample]:
        return self.samples[index:]


START = beat(1, 0).host_ns  # the wait begins as the first heartbeat arrives


def feed_later(observer: FeedObserver, samples: list[Sample], after_s: float = 0.3) -> None:
    def feed() -> None:
        time.sleep(after_s)
        observer.samples.extend(samples)

    threading.Thread(target=feed, daemon=True).start()


def test_an_advance_of_the_same_boot_is_progress() -> None:
    observer = FeedObserver([beat(1, 0, last_ack=40)])
    feed_later(observer, [beat(2, 5, last_ack=40), beat(3, 10, last_ack=41), beat(4, 60, last_ack=42)])
    assert wait_for_disk_progress(observer, timeout_s=5, after_ns=START) == 42  # type: ignore[arg-type]


def test_the_write_in_flight_at_the_start_is_not_yet_progress() -> None:
    # Record 41 was on its way when the wait began (a cut may let its reply through): 42 must follow.
    observer = FeedObserver([beat(1, 0, last_ack=40), beat(2, 5, last_ack=41)])
    with pytest.raises(WaitTimeout, match=f"last: stuck at record 41 of boot {BOOT}"):
        wait_for_disk_progress(observer, timeout_s=0.3, after_ns=START)  # type: ignore[arg-type]


def test_a_new_boots_first_report_is_no_progress() -> None:
    observer = FeedObserver([beat(1, 0, last_ack=40)])
    # The restarted probe first reports the old boot's newest record (40, then 41 from disk): not its own write.
    feed_later(observer, [beat(1, 5, OTHER_BOOT, last_ack=41)])
    with pytest.raises(WaitTimeout, match=f"last: stuck at record 41 of boot {OTHER_BOOT}"):
        wait_for_disk_progress(observer, timeout_s=1, after_ns=START)  # type: ignore[arg-type]


def test_a_stuck_disk_times_out_saying_where() -> None:
    observer = FeedObserver([beat(1, 0, last_ack=40), beat(2, 5, last_ack=40)])
    with pytest.raises(WaitTimeout, match=f"not within 0 s; last: stuck at record 40 of boot {BOOT}"):
        wait_for_disk_progress(observer, timeout_s=0.3, after_ns=START)  # type: ignore[arg-type]
