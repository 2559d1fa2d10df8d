"""The probe's heartbeat datagram (layout in provision/host/guest/probe/wire.h)."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from harness.errors import HarnessError

MAGIC = b"HAHB"
VERSION = 1
FLAG_DISK = 1
FLAG_LOAD = 2
_LAYOUT = struct.Struct("!4sHHQQQ16sQQIIQ")
SIZE = _LAYOUT.size


class MalformedHeartbeat(HarnessError, ValueError):
    """A datagram that is not a heartbeat of a version we read."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Heartbeat:
    seq: int
    mono_ns: int
    wall_ns: int
    boot_id: str
    uptime_ns: int
    last_ack: int
    max_write_latency_us: int
    inflight_us: int
    disk_errors: int
    flags: int = FLAG_DISK

    @property
    def has_disk(self) -> bool:
        return bool(self.flags & FLAG_DISK)

    def pack(self) -> bytes:
        return _LAYOUT.pack(
            MAGIC,
            VERSION,
            self.flags,
            self.seq,
            self.mono_ns,
            self.wall_ns,
            bytes.fromhex(self.boot_id),
            self.uptime_ns,
            self.last_ack,
            self.max_write_latency_us,
            self.inflight_us,
            self.disk_errors,
        )


def parse(datagram: bytes) -> Heartbeat:
    """Decode one datagram, or raise MalformedHeartbeat saying why not."""
    if len(datagram) != SIZE:
        raise MalformedHeartbeat("size")
    (magic, version, flags, seq, mono, wall, boot, uptime, ack, lat, inflight, errors) = _LAYOUT.unpack(datagram)
    if magic != MAGIC:
        raise MalformedHeartbeat("magic")
    if version != VERSION:
        raise MalformedHeartbeat("version")
    if seq == 0:
        raise MalformedHeartbeat("seq")
    return Heartbeat(seq, mono, wall, boot.hex(), uptime, ack, lat, inflight, errors, flags)
