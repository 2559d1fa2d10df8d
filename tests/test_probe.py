"""The probe binary as a host process: its options and its memory load."""

from __future__ import annotations

import socket
import struct
import subprocess
import time
from pathlib import Path

import pytest

from harness.probe.heartbeat import FLAG_DISK, FLAG_LOAD
from harness.probe.observer import Observer


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "--observer is required"),
        (["--observer", "nowhere"], "--observer wants ADDR:PORT"),
        (["--observer", "example.org:5555"], "IPv4 address"),
        (["--observer", "127.0.0.1:5555", "--hb-ms", "0"], "--hb-ms wants an integer >= 1, got '0'"),
        (["--observer", "127.0.0.1:5555", "--rec-ms", "fast"], "--rec-ms wants an integer"),
        (["--observer", "127.0.0.1:5555", "--ring-offset", "100"], "multiple of 4096"),
        (["--observer", "127.0.0.1:5555", "--colour"], "unknown option"),
    ],
)
def test_bad_options_say_what_is_wrong(probe_binary: Path, args: list[str], message: str) -> None:
    result = subprocess.run([str(probe_binary), *args], capture_output=True, text=True, timeout=10)
    assert result.returncode == 2
    assert message in result.stderr


def test_unusable_disk_fails_at_once(probe_binary: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [str(probe_binary), "--observer", "127.0.0.1:9", "--disk", str(tmp_path / "no" / "such" / "dir")],
        capture_output=True,
        text=True,
        timeout=10,
    )
    assert result.returncode == 1
    assert "No such file or directory" in result.stderr


def private_dirty_kib(pid: int) -> int:
    text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    return sum(int(line.split()[1]) for line in text.splitlines() if line.startswith("Private_Dirty:"))


def test_load_dirties_memory_at_the_asked_rate(probe_binary: Path) -> None:
    rate_mibs, seconds = 16, 2.0
    with Observer() as observer:
        host, port = observer.address
        probe = subprocess.Popen(
            [str(probe_binary), "--observer", f"{host}:{port}", "--disk", "",
             "--load-mibs", str(rate_mibs), "--load-ws-mib", "256"],
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            hb = observer.wait_for_heartbeat(10).hb
            time.sleep(0.5)
            before, t0 = private_dirty_kib(probe.pid), time.monotonic()
            time.sleep(seconds)
            after, t1 = private_dirty_kib(probe.pid), time.monotonic()
        finally:
            probe.terminate()
            probe.wait()
    # The first lap over the 256 MiB working set touches fresh pages, so the
    # growth of dirty memory is the dirtying rate.
    measured = (after - before) / 1024 / (t1 - t0)
    assert measured == pytest.approx(rate_mibs, rel=0.2)
    assert hb.flags & FLAG_LOAD and not hb.flags & FLAG_DISK


def test_observer_turns_the_load_on_and_off_at_run_time(probe_binary: Path) -> None:
    with Observer() as observer:
        host, port = observer.address
        probe = subprocess.Popen(
            [str(probe_binary), "--observer", f"{host}:{port}", "--disk", "", "--load-ws-mib", "64"],
            stderr=subprocess.DEVNULL,
        )
        try:
            assert not observer.wait_for_heartbeat(10).hb.flags & FLAG_LOAD
            observer.set_load(32, timeout=10)
            time.sleep(0.5)
            before = private_dirty_kib(probe.pid)
            time.sleep(1.0)
            loaded = private_dirty_kib(probe.pid) - before
            observer.set_load(0, timeout=10)
            time.sleep(0.5)
            before = private_dirty_kib(probe.pid)
            time.sleep(1.0)
            idle = private_dirty_kib(probe.pid) - before
        finally:
            probe.terminate()
            probe.wait()
    assert loaded > 16 * 1024, f"only {loaded} KiB dirtied in 1 s at 32 MiB/s"
    assert idle < 1024, f"{idle} KiB dirtied in 1 s with the load off"


def test_control_from_a_stranger_is_ignored(probe_binary: Path) -> None:
    with Observer() as observer:
        host, port = observer.address
        probe = subprocess.Popen(
            [str(probe_binary), "--observer", f"{host}:{port}", "--disk", ""], stderr=subprocess.DEVNULL
        )
        try:
            observer.wait_for_heartbeat(10)
            source = observer.guest_address
            assert source is not None
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as stranger:
                for _ in range(20):
                    stranger.sendto(struct.pack("!4sI", b"HACT", 32), source)
                    time.sleep(0.05)
            after = time.time_ns()
            time.sleep(0.3)
            late = [s for s in observer.samples if s.host_ns > after]
        finally:
            probe.terminate()
            probe.wait()
    assert late and not any(s.hb.flags & FLAG_LOAD for s in late)
