"""Receive the probe's heartbeats, stamped with the kernel's receive time."""

from __future__ import annotations

import bisect
import socket
import struct
import threading
import time
from collections import Counter
from dataclasses import dataclass
from types import TracebackType

from harness.errors import HarnessError
from harness.probe.heartbeat import FLAG_LOAD, Heartbeat, MalformedHeartbeat, parse
from harness.waiting import WaitTimeout

# Python exposes SO_TIMESTAMPNS only on some builds; 35 is its value on Linux.
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)  # root may exceed net.core.rmem_max
_TIMESPEC = struct.Struct("@qq")
# Observer-to-probe control datagram (provision/host/guest/probe/wire.h): set the memory load.
_CONTROL = struct.Struct("!4sI")
CONTROL_MAGIC = b"HACT"


@dataclass(frozen=True, slots=True)
class Sample:
    """One heartbeat and the host's CLOCK_REALTIME at its arrival, in ns."""

    host_ns: int
    hb: Heartbeat


@dataclass(frozen=True, slots=True)
class Marker:
    """An event in the run ("move requested"), on the same clock as samples."""

    host_ns: int
    label: str


class ObserverError(HarnessError):
    """The observer cannot vouch for its timeline (a dead receiver, a capped buffer, late stamps):
    an error of the harness, never a verdict on the guest."""


class Observer:
    """A UDP listener that keeps the timeline of one run.

    Malformed datagrams, and well-formed ones from anywhere but `guest` (when
    given), are counted by reason and dropped: a stray packet on the lab
    network must never end a measurement, nor count as the guest's.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, rcvbuf: int = 4 << 20, guest: str | None = None) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self._sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            # Heartbeats arrive in bursts after a freeze; don't drop them here.
            _set_rcvbuf(self._sock, rcvbuf)
            self._sock.bind((host, port))
        except (OSError, ObserverError):
            self._sock.close()
            raise
        self._guest = guest
        self.user_stamps = 0  # arrivals stamped in user space: their times are late by the scheduler's delay
        self._failure: BaseException | None = None
        self._sock.settimeout(0.1)
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._samples: list[Sample] = []
        self._sources: dict[str, tuple[str, int]] = {}  # boot id -> where its heartbeats come from
        self._markers: list[Marker] = []
        self.rejected: Counter[str] = Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._receive, name="observer", daemon=True)

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._sock.getsockname()
        return host, port

    def start(self) -> Observer:
        self._thread.start()
        return self

    def check(self) -> None:
        """Raise ObserverError if the timeline cannot be trusted: the receiver died or stamped late."""
        if self._failure is not None:
            raise ObserverError(f"the observer's receiver died: {self._failure!r}") from self._failure
        if self._thread.ident is not None and not self._thread.is_alive() and not self._stop.is_set():
            raise ObserverError("the observer's receiver ended early: heartbeats after that were not recorded")
        if self.user_stamps:
            raise ObserverError(
                f"{self.user_stamps} heartbeats had no kernel receive time (SO_TIMESTAMPNS) and were stamped "
                "in user space: freezes measured from them are too long; run on a Linux host"
            )

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self._sock.close()

    def __enter__(self) -> Observer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def mark(self, label: str) -> Marker:
        marker = Marker(time.time_ns(), label)
        with self._lock:
            self._markers.append(marker)
        return marker

    @property
    def samples(self) -> list[Sample]:
        with self._lock:
            return list(self._samples)

    def samples_since(self, index: int) -> list[Sample]:
        """The samples from position `index` on: a follower's next batch, without copying the rest."""
        with self._lock:
            return self._samples[index:]

    @property
    def last_arrival_ns(self) -> int | None:
        """When the newest heartbeat arrived (host clock), without copying the samples."""
        with self._lock:
            return self._samples[-1].host_ns if self._samples else None

    @property
    def markers(self) -> list[Marker]:
        with self._lock:
            return list(self._markers)

    @property
    def guest_address(self) -> tuple[str, int] | None:
        """Where the newest heartbeat came from (the probe's address and port)."""
        with self._lock:
            return self._sources.get(self._samples[-1].hb.boot_id) if self._samples else None

    def set_load(self, mibs: int, timeout: float = 60.0) -> None:
        """Ask the probe for `mibs` MiB/s of memory load; return once its heartbeats show the load on (or off).

        The request is repeated until then: a datagram lost on the way, or
        sent while the guest was frozen, must not leave the load unset.
        """
        if not 0 <= mibs < 2**32:
            raise ValueError(f"memory load must be 0 or more MiB/s, not {mibs}")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                newest = self._samples[-1] if self._samples else None
                source = self._sources.get(newest.hb.boot_id) if newest else None
            fresh = newest is not None and time.time_ns() - newest.host_ns < 1_000_000_000
            if fresh and newest is not None and bool(newest.hb.flags & FLAG_LOAD) == bool(mibs):
                return
            if fresh and source is not None:
                self._sock.sendto(_CONTROL.pack(CONTROL_MAGIC, mibs), source)
            time.sleep(0.2)
        raise WaitTimeout(f"the probe did not take a memory load of {mibs} MiB/s within {timeout:.0f} s")

    def wait_for_heartbeat(self, timeout: float, after_ns: int = 0) -> Sample:
        """The first heartbeat that arrived after `after_ns`, waiting up to `timeout` s."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while True:
                index = bisect.bisect_right(self._samples, after_ns, key=lambda s: s.host_ns)
                if index < len(self._samples):
                    return self._samples[index]
                left = deadline - time.monotonic()
                if left <= 0:
                    host, port = self.address
                    raise WaitTimeout(f"no heartbeat reached {host}:{port} within {timeout:.0f} s")
                self._arrived.wait(left)

    def _receive(self) -> None:
        try:
            self._receive_loop()
        except BaseException as err:  # kept for check(): a dead receiver must not pass for a frozen guest
            self._failure = err

    def _receive_loop(self) -> None:
        cmsg_space = socket.CMSG_SPACE(_TIMESPEC.size)
        while not self._stop.is_set():
            try:
                data, ancdata, _flags, source = self._sock.recvmsg(512, cmsg_space)
            except TimeoutError:
                continue
            except OSError:
                if self._stop.is_set():
                    return
                raise
            host_ns = _receive_time(ancdata)
            if host_ns is None:
                host_ns = time.time_ns()
                self.user_stamps += 1
            if self._guest is not None and source[0] != self._guest:
                with self._lock:
                    self.rejected["source"] += 1
                continue
            try:
                hb = parse(data)
            except MalformedHeartbeat as bad:
                with self._lock:
                    self.rejected[bad.reason] += 1
                continue
            with self._arrived:
                self._sources[hb.boot_id] = source
                self._samples.append(Sample(host_ns, hb))
                self._arrived.notify_all()


def _set_rcvbuf(sock: socket.socket, size: int) -> None:
    """Ask for `size` bytes of receive buffer; refuse to run with less (a burst after a freeze would drop)."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, size)
    except PermissionError:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
    got = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) // 2  # Linux reports twice what it grants
    if got < size:
        raise ObserverError(
            f"the observer's receive buffer is capped at {got} bytes, not {size}, by net.core.rmem_max: "
            f"run as root or raise it (sysctl -w net.core.rmem_max={size})"
        )


def _receive_time(ancdata: list[tuple[int, int, bytes]]) -> int | None:
    for level, kind, data in ancdata:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= _TIMESPEC.size:
            sec, nsec = _TIMESPEC.unpack_from(data)
            return sec * 1_000_000_000 + nsec
    return None
