"""Check that every record the guest saw acknowledged is on its disk.

The probe writes record `seq` into slot `seq % ring` of a ring of 4 KiB slots
(layout in provision/guest/probe/wire.h). A record can only be checked while
the ring still holds it: writes after it overwrite the oldest slots.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path

MAGIC = b"HARC"
SIZE = 4096
_CRC_AT = 4092
_HEADER = struct.Struct("!4sIQ")  # magic, version, seq


class VerifyError(ValueError):
    """The image cannot be checked as asked (too small, bad arguments)."""


@dataclass(frozen=True)
class Slot:
    seq: int | None  # the sequence number the slot claims, None without our magic
    valid: bool  # magic and CRC both good


@dataclass(frozen=True)
class Verification:
    upto: int
    first_checked: int  # oldest record the ring can still prove (checked: first..upto)
    newest_on_disk: int
    missing: list[int] = field(default_factory=list)
    bad_crc: list[int] = field(default_factory=list)

    @property
    def checked(self) -> int:
        return max(0, self.upto - self.first_checked + 1)

    @property
    def ok(self) -> bool:
        return not self.missing and not self.bad_crc

    def summary(self) -> str:
        if self.ok:
            return f"all {self.checked} acknowledged records {self.first_checked}..{self.upto} intact"
        return (
            f"{len(self.missing)} missing, {len(self.bad_crc)} with a bad CRC among records "
            f"{self.first_checked}..{self.upto} (missing: {_few(self.missing)}; bad CRC: {_few(self.bad_crc)})"
        )


def read_slot(block: bytes) -> Slot:
    magic, _version, seq = _HEADER.unpack_from(block)
    if magic != MAGIC:
        return Slot(None, False)
    (crc,) = struct.unpack_from("!I", block, _CRC_AT)
    return Slot(seq, crc == zlib.crc32(block[:_CRC_AT]))


def verify(image: Path, upto: int, ring: int, offset: int = 0, since: int = 1) -> Verification:
    """Check records `since`..`upto` (the newest the guest reported acknowledged) that the ring still holds."""
    if ring < 1 or upto < 0 or offset < 0:
        raise VerifyError("ring must be >= 1, upto and offset >= 0")
    data = _read_ring(image, ring, offset)
    slots = [read_slot(data[i * SIZE : (i + 1) * SIZE]) for i in range(ring)]
    newest = max((s.seq for s in slots if s.valid and s.seq is not None), default=0)
    # Writes after `upto` (acknowledged after the last heartbeat, or one torn
    # in flight) may have overwritten the oldest slots; only younger ones count.
    first = max(since, 1, max(newest, upto) + 2 - ring)
    missing: list[int] = []
    bad: list[int] = []
    for seq in range(first, upto + 1):
        slot = slots[seq % ring]
        if slot.valid and slot.seq == seq:
            continue
        (bad if slot.seq == seq else missing).append(seq)
    return Verification(upto, first, newest, missing, bad)


def _read_ring(image: Path, ring: int, offset: int) -> bytes:
    try:
        with open(image, "rb") as f:
            f.seek(offset)
            data = f.read(ring * SIZE)
    except OSError as err:
        raise VerifyError(f"cannot read {image}: {err.strerror}") from err
    if len(data) < ring * SIZE:
        raise VerifyError(
            f"{image} holds {len(data) // SIZE} slots after offset {offset}, not {ring}: "
            "give the ring size the probe ran with"
        )
    return data


def _few(seqs: list[int], limit: int = 10) -> str:
    if not seqs:
        return "none"
    shown = ", ".join(map(str, seqs[:limit]))
    return shown + (f" and {len(seqs) - limit} more" if len(seqs) > limit else "")
