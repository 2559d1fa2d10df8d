"""The record verifier on rings the real probe wrote."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from harness.cli import main
from harness.probe.observer import Observer
from harness.probe.records import SIZE, VerifyError, verify

RING = 32


@pytest.fixture(scope="module")
def written(probe_binary: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    """A ring the probe wrapped several times, and the newest record it reported acknowledged."""
    image = tmp_path_factory.mktemp("records") / "disk.img"
    with Observer() as observer:
        host, port = observer.address
        probe = subprocess.Popen(
            [str(probe_binary), "--observer", f"{host}:{port}", "--disk", str(image),
             "--rec-ms", "5", "--ring", str(RING)],
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            first = observer.wait_for_heartbeat(10)
            while observer.samples[-1].hb.last_ack < 3 * RING:
                observer.wait_for_heartbeat(10, after_ns=observer.samples[-1].host_ns)
        finally:
            probe.terminate()
            probe.wait()
        upto = max(s.hb.last_ack for s in observer.samples)
    assert first.hb.has_disk
    return image, upto


def copy_of(image: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "copy.img"
    copy.write_bytes(image.read_bytes())
    return copy


def test_intact_ring_passes(written: tuple[Path, int]) -> None:
    image, upto = written
    result = verify(image, upto=upto, ring=RING)
    assert result.ok, result.summary()
    assert result.newest_on_disk >= upto
    assert result.checked >= RING - 2  # all the ring can prove, less the slot a torn write may hold


def test_removed_record_is_reported_missing(written: tuple[Path, int], tmp_path: Path) -> None:
    image, upto = written
    broken = copy_of(image, tmp_path)
    victim = upto - 3
    with open(broken, "r+b") as f:
        f.seek((victim % RING) * SIZE)
        f.write(bytes(SIZE))
    result = verify(broken, upto=upto, ring=RING)
    assert result.missing == [victim]
    assert result.bad_crc == []
    assert not result.ok


def test_since_leaves_older_records_out_of_the_check(written: tuple[Path, int], tmp_path: Path) -> None:
    image, upto = written
    broken = copy_of(image, tmp_path)
    with open(broken, "r+b") as f:
        f.seek(((upto - 10) % RING) * SIZE)
        f.write(bytes(SIZE))
    assert verify(broken, upto=upto, ring=RING, since=upto - 10).missing == [upto - 10]
    result = verify(broken, upto=upto, ring=RING, since=upto - 9)
    assert result.ok and result.first_checked == upto - 9 and result.checked == 10


def test_flipped_byte_is_reported_as_bad_crc(written: tuple[Path, int], tmp_path: Path) -> None:
    image, upto = written
    broken = copy_of(image, tmp_path)
    victim = upto - 5
    with open(broken, "r+b") as f:
        f.seek((victim % RING) * SIZE + 1000)
        byte = f.read(1)[0]
        f.seek(-1, 1)
        f.write(bytes([byte ^ 0x01]))
    result = verify(broken, upto=upto, ring=RING)
    assert result.bad_crc == [victim]
    assert result.missing == []


def test_record_overwritten_by_an_older_one_is_missing(written: tuple[Path, int], tmp_path: Path) -> None:
    image, upto = written
    broken = copy_of(image, tmp_path)
    data = bytearray(broken.read_bytes())
    # Put the slot of `upto` back to what an earlier lap left there: lost acknowledged write.
    victim_slot, older_slot = upto % RING, (upto - 1) % RING
    data[victim_slot * SIZE : (victim_slot + 1) * SIZE] = data[older_slot * SIZE : (older_slot + 1) * SIZE]
    broken.write_bytes(bytes(data))
    assert verify(broken, upto=upto, ring=RING).missing == [upto]


def test_probe_resumes_after_the_newest_record_on_disk(probe_binary: Path, written: tuple[Path, int],
                                                        tmp_path: Path) -> None:  # fmt: skip
    image, upto = written
    reused = copy_of(image, tmp_path)
    newest = verify(reused, upto=upto, ring=RING).newest_on_disk
    with Observer() as observer:
        host, port = observer.address
        probe = subprocess.Popen(
            [str(probe_binary), "--observer", f"{host}:{port}", "--disk", str(reused), "--ring", str(RING)],
            stderr=subprocess.DEVNULL,
        )
        try:
            sample = observer.wait_for_heartbeat(10)
            while sample.hb.last_ack == 0:
                sample = observer.wait_for_heartbeat(10, after_ns=sample.host_ns)
        finally:
            probe.terminate()
            probe.wait()
    assert sample.hb.last_ack >= newest


def test_image_smaller_than_the_ring_is_a_clear_error(tmp_path: Path) -> None:
    small = tmp_path / "small.img"
    small.write_bytes(bytes(SIZE * 4))
    with pytest.raises(VerifyError, match="holds 4 slots"):
        verify(small, upto=10, ring=8)


def test_cli_exit_codes(written: tuple[Path, int], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    image, upto = written
    assert main(["verify-records", str(image), "--upto", str(upto), "--ring", str(RING)]) == 0
    assert "intact" in capsys.readouterr().out
    assert main(["verify-records", str(tmp_path / "absent.img"), "--upto", "1", "--ring", "4"]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_each_record_carries_the_boot_that_wrote_it(written: tuple[Path, int]) -> None:
    image, upto = written
    boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip().replace("-", "")
    mine = verify(image, upto=upto, ring=RING, boot_id=boot)
    assert mine.ok and mine.boot_id == boot, mine.summary()
    theirs = verify(image, upto=upto, ring=RING, boot_id="00" * 16)
    assert not theirs.ok and theirs.foreign == list(range(theirs.first_checked, upto + 1))
    assert "overwritten by another boot" in theirs.summary()
