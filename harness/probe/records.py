"""Check that every record the guest saw acknowledged is on its disk.

The probe writes record `seq` into slot `seq % ring` of a ring of 4 KiB slots
(layout in provision/host/guest/probe/wire.h). A record can only be checked while
the ring still holds it: writes after it overwrite the oldest slots.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import HarnessError

MAGIC = b"HARC"
SIZE = 4096
_CRC_AT = 4092
_HEADER = struct.Struct("!4sIQ16s")  # magic, version, seq, boot id


class VerifyError(HarnessError, ValueError):
    """The image cannot be checked as asked (too small, bad arguments)."""


@dataclass(frozen=True)
class Slot:
    seq: int | None  # the sequence number the slot claims, None without our magic
    valid: bool  # magic and CRC both good
    boot_id: str | None = None  # the boot that wrote it (hex, as in heartbeats)


@dataclass(frozen=True)
class Verification:
    upto: int
    first_checked: int  # oldest record the ring can still prove (checked: first..upto)
    newest_on_disk: int
    missing: list[int] = field(default_factory=list)
    bad_crc: list[int] = field(default_factory=list)
    boot_id: str | None = None  # the boot whose acknowledged records these are; None: any boot's
    # The slot holds this number, intact, but written by another boot: a restarted probe
    # reused the number of a record this boot acknowledged that never reached the disk.
    foreign: list[int] = field(default_factory=list)

    @property
    def checked(self) -> int:
        return max(0, self.upto - self.first_checked + 1)

    @property
    def lost(self) -> list[int]:
        return sorted([*self.missing, *self.bad_crc, *self.foreign])

    @property
    def ok(self) -> bool:
        return not self.lost

    def summary(self) -> str:
        whose = f" of boot {self.boot_id[:8]}" if self.boot_id else ""
        if self.ok:
            return f"all {self.checked} acknowledged records{whose} {self.first_checked}..{self.upto} intact"
        return (
            f"{len(self.lost)} of the acknowledged records{whose} {self.first_checked}..{self.upto} lost: "
            f"{len(self.missing)} missing ({_few(self.missing)}), {len(self.bad_crc)} with a bad CRC "
            f"({_few(self.bad_crc)}), {len(self.foreign)} overwritten by another boot ({_few(self.foreign)})"
        )


def read_slot(block: bytes) -> Slot:
    magic, _version, seq, boot = _HEADER.unpack_from(block)
    if magic != MAGIC:
        return Slot(None, False)
    (crc,) = struct.unpack_from("!I", block, _CRC_AT)
    return Slot(seq, crc == zlib.crc32(block[:_CRC_AT]), boot.hex())


def verify(
    image: Path, upto: int, ring: int, offset: int = 0, since: int = 1, boot_id: str | None = None
) -> Verification:
    """Check records `since`..`upto` (the newest the guest reported acknowledged) that the ring still holds.

    With `boot_id`, each record must also carry that boot's id: the records one boot
    acknowledged are judged against that boot, so a later boot's record of the same
    number cannot stand in for one that was lost.
    """
    [result] = verify_boots(image, [(boot_id, since, upto)], ring, offset)
    return result


def verify_boots(
    image: Path, ranges: list[tuple[str | None, int, int]], ring: int, offset: int = 0
) -> list[Verification]:
    """`verify` for several boots' ranges (boot id, since, upto) on one read of the ring."""
    if ring < 1 or offset < 0 or any(upto < 0 for _, _, upto in ranges):
        raise VerifyError("ring must be >= 1, upto and offset >= 0")
    data = _read_ring(image, ring, offset)
    slots = [read_slot(data[i * SIZE : (i + 1) * SIZE]) for i in range(ring)]
    newest = max((s.seq for s in slots if s.valid and s.seq is not None), default=0)
    newest_acked = max((upto for _, _, upto in ranges), default=0)
    results = []
    for boot_id, since, upto in ranges:
        # Writes after `upto` (acknowledged after the last heartbeat, or one torn
        # in flight) may have overwritten the oldest slots; only younger ones count.
        first = max(since, 1, max(newest, newest_acked) + 2 - ring)
        missing: list[int] = []
        bad: list[int] = []
        foreign: list[int] = []
        for seq in range(first, upto + 1):
            slot = slots[seq % ring]
            if slot.seq != seq:
                missing.append(seq)
            elif not slot.valid:
                bad.append(seq)
            elif boot_id is not None and slot.boot_id != boot_id:
                foreign.append(seq)
        results.append(Verification(upto, first, newest, missing, bad, boot_id, foreign))
    return results


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
