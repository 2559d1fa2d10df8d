"""The observer on a real socket: timestamps, and bad input counted, never fatal."""

from __future__ import annotations

import socket
import time

import pytest

from harness.heartbeat import SIZE, Heartbeat, MalformedHeartbeat, parse
from harness.observer import Observer

BOOT = "ab" * 16


def heartbeat(seq: int) -> Heartbeat:
    return Heartbeat(seq, 10 * seq, 20 * seq, BOOT, 30 * seq, seq // 4, 100, 0, 0)


def test_parse_reads_back_what_was_packed() -> None:
    hb = heartbeat(7)
    assert parse(hb.pack()) == hb


@pytest.mark.parametrize(
    ("datagram", "reason"),
    [
        (b"", "size"),
        (b"HAHB", "size"),
        (heartbeat(1).pack() + b"x", "size"),
        (b"XXXX" + heartbeat(1).pack()[4:], "magic"),
        (heartbeat(1).pack()[:4] + b"\x00\x09" + heartbeat(1).pack()[6:], "version"),
        (Heartbeat(0, 0, 0, BOOT, 0, 0, 0, 0, 0).pack(), "seq"),
    ],
)
def test_parse_says_why_a_datagram_is_refused(datagram: bytes, reason: str) -> None:
    with pytest.raises(MalformedHeartbeat) as refused:
        parse(datagram)
    assert refused.value.reason == reason


def test_malformed_and_foreign_datagrams_are_counted_and_dropped() -> None:
    with Observer() as observer, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
        sent_at = time.time_ns()
        tx.sendto(heartbeat(1).pack(), observer.address)
        for junk in (b"", b"GET / HTTP/1.0\r\n\r\n", bytes(SIZE), b"\xff" * 1400, b"XXXX" + bytes(SIZE - 4)):
            tx.sendto(junk, observer.address)
        tx.sendto(heartbeat(2).pack(), observer.address)
        observer.wait_for_heartbeat(5, after_ns=observer.wait_for_heartbeat(5).host_ns)
        time.sleep(0.1)
        samples = observer.samples
        rejected = dict(observer.rejected)
    assert [s.hb.seq for s in samples] == [1, 2]
    assert sum(rejected.values()) == 5
    assert rejected == {"size": 3, "magic": 2}
    # The kernel's receive stamp, on the host's realtime clock.
    assert 0 <= samples[0].host_ns - sent_at < 1_000_000_000


def test_wait_for_heartbeat_times_out_with_the_address_in_the_message() -> None:
    with Observer() as observer, pytest.raises(TimeoutError, match=str(observer.address[1])):
        observer.wait_for_heartbeat(0.3)


def test_markers_are_stamped_on_the_samples_clock() -> None:
    with Observer() as observer:
        before = time.time_ns()
        marker = observer.mark("move requested")
        assert before <= marker.host_ns <= time.time_ns()
        assert observer.markers == [marker]
