"""A new lab the host cannot hold is refused before anything is made, with what to change."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from harness.config.lab import LabConfig, LabConfigError
from harness.host import preflight


def meminfo(tmp_path: Path, available_kib: int) -> Path:
    path = tmp_path / "meminfo"
    path.write_text(f"MemTotal:       25000000 kB\nMemAvailable:   {available_kib} kB\n")
    return path


def test_a_host_with_room_passes(tmp_path: Path) -> None:
    config = LabConfig(observer_port=47311, fence_port=47312, state_root=tmp_path)
    preflight.check(config, images=tmp_path, meminfo=meminfo(tmp_path, 20_000_000), disk_gib=0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["meminfo"]  # nothing made


@pytest.mark.parametrize("key", ["observer_port", "fence_port"])
def test_a_taken_port_is_refused(tmp_path: Path, key: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as holder:
        holder.bind(("0.0.0.0", 0))
        port = holder.getsockname()[1]
        if port < 1024:
            pytest.skip("the kernel gave a privileged port")
        ports = {"observer_port": 47311, "fence_port": 47312, key: port}
        config = LabConfig(state_root=tmp_path, **ports)  # type: ignore[arg-type]
        with pytest.raises(LabConfigError, match=rf"UDP port {port} \({key}\) is taken.*set another {key}"):
            preflight.check(config, images=tmp_path, meminfo=meminfo(tmp_path, 20_000_000), disk_gib=0)


def test_too_little_disk_is_refused(tmp_path: Path) -> None:
    config = LabConfig(observer_port=47311, fence_port=47312, state_root=tmp_path)
    with pytest.raises(LabConfigError, match=r"GiB free; a lab needs about 1000000 GiB"):
        preflight.check(config, images=tmp_path / "absent", meminfo=meminfo(tmp_path, 20_000_000), disk_gib=10**6)


def test_too_little_memory_is_refused(tmp_path: Path) -> None:
    config = LabConfig(observer_port=47311, fence_port=47312, state_root=tmp_path)
    with pytest.raises(LabConfigError, match=r"^2000 MiB of memory available; a lab needs about \d+ MiB"):
        preflight.check(config, images=tmp_path, meminfo=meminfo(tmp_path, 2_048_000), disk_gib=0)


def test_a_taken_nas_fence_port_is_refused(tmp_path: Path) -> None:
    """The NAS cluster's fence_virtd listens on the port after fence_port."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as holder:
        holder.bind(("0.0.0.0", 0))
        port = holder.getsockname()[1]
        if port <= 1024 or port - 1 == 47311:
            pytest.skip("the kernel gave a port this test cannot put after fence_port")
        config = LabConfig(observer_port=47311, fence_port=port - 1, state_root=tmp_path)
        with pytest.raises(LabConfigError, match=rf"UDP port {port} \(fence_port \+ 1\) is taken.*another fence_port"):
            preflight.check(config, images=tmp_path, meminfo=meminfo(tmp_path, 20_000_000), disk_gib=0)
