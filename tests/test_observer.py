"""The observer on a real socket: timestamps, and bad input counted, never fatal."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from harness.measure.window import close_window
from harness.probe.heartbeat import SIZE, Heartbeat, MalformedHeartbeat, parse
from harness.probe.observer import SO_RCVBUFFORCE, Observer, ObserverError, _set_rcvbuf
from harness.probe.timeline import analyze

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


def test_heartbeats_from_anywhere_but_the_guest_are_counted_and_dropped() -> None:
    with Observer(guest="127.0.0.2") as observer, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as stranger:
        stranger.sendto(heartbeat(1).pack(), observer.address)  # from 127.0.0.1: well formed, not the guest
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as guest:
            guest.bind(("127.0.0.2", 0))
            guest.sendto(heartbeat(2).pack(), observer.address)
            observer.wait_for_heartbeat(5)
        time.sleep(0.1)
        assert [s.hb.seq for s in observer.samples] == [2]
        assert observer.rejected == {"source": 1}


def test_a_dead_receiver_is_an_error_of_the_harness_not_a_frozen_guest(monkeypatch: pytest.MonkeyPatch) -> None:
    observer = Observer()

    def broken(datagram: bytes) -> Heartbeat:
        raise MemoryError("planted")

    monkeypatch.setattr("harness.probe.observer.parse", broken)
    with observer, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
        tx.sendto(heartbeat(1).pack(), observer.address)
        deadline = time.monotonic() + 5
        while observer._thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        with pytest.raises(ObserverError, match="receiver died"):
            observer.check()


def test_user_space_stamps_are_an_error_of_the_harness(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("harness.probe.observer._receive_time", lambda _ancdata: None)  # as without SO_TIMESTAMPNS
    with Observer() as observer, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
        observer.check()
        tx.sendto(heartbeat(1).pack(), observer.address)
        observer.wait_for_heartbeat(5)
        with pytest.raises(ObserverError, match="stamped in user space"):
            observer.check()


class CappedSocket:
    """A socket whose receive buffer the kernel capped (net.core.rmem_max), for an unprivileged user."""

    def setsockopt(self, level: int, option: int, value: int) -> None:
        if option == SO_RCVBUFFORCE:
            raise PermissionError("not root")

    def getsockopt(self, level: int, option: int) -> int:
        return 2 * 212_992


def test_a_receive_buffer_capped_by_rmem_max_is_refused_with_what_to_do() -> None:
    with pytest.raises(ObserverError, match=r"capped at 212992 bytes.*rmem_max"):
        _set_rcvbuf(CappedSocket(), 4 << 20)  # type: ignore[arg-type]
    with Observer() as observer:  # root here: SO_RCVBUFFORCE grants it
        observer.check()
