"""The observer on a real socket: timestamps, and bad input counted, never fatal."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from harness.heartbeat import SIZE, Heartbeat, MalformedHeartbeat, parse
from harness.moves import close_window
from harness.observer import Observer
from harness.timeline import analyze

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


def test_a_window_closes_on_an_arrival_so_a_live_guest_is_never_an_open_freeze() -> None:
    with Observer() as observer, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
        tx.sendto(heartbeat(1).pack(), observer.address)
        observer.wait_for_heartbeat(5)
        time.sleep(0.1)  # a gap longer than the freeze threshold, then the guest goes on
        # The guest's next heartbeat comes while the window is closing.
        sender = threading.Timer(0.2, tx.sendto, (heartbeat(2).pack(), observer.address))
        sender.start()
        end_ns = close_window(observer, wait_s=5)
        sender.join()
        live = analyze(observer.samples, interval_ms=5, end_ns=end_ns)
        silent_end_ns = close_window(observer, wait_s=0.3)  # nothing more is sent
        silent = analyze(observer.samples, interval_ms=5, end_ns=silent_end_ns)
    assert end_ns == observer.samples[-1].host_ns
    assert live.resumed and live.freezes[-1].end_ns is not None
    assert not silent.resumed and silent.freezes[-1].end_ns is None
    assert silent.freezes[-1].gap_ms >= 300
