"""The host's side of fencing without a lab: the key, fence_virtd's config, refusing a taken port."""

from __future__ import annotations

import re
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from harness.config.lab import LabConfig
from harness.host import fencing
from harness.waiting import wait_for


def test_the_key_is_made_once_private_and_random(tmp_path: Path) -> None:
    key = fencing.write_key(tmp_path)
    first = key.read_bytes()
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and len(first) == 4096
    assert fencing.write_key(tmp_path).read_bytes() == first  # a lab keeps its key


def test_two_labs_get_different_keys(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    assert fencing.write_key(tmp_path / "a").read_bytes() != fencing.write_key(tmp_path / "b").read_bytes()


def test_the_config_listens_on_the_labs_bridge_and_port_with_its_key(tmp_path: Path) -> None:
    config = LabConfig(name="fencetest", fence_port=47123, state_root=tmp_path)
    text = fencing.render_conf(config, tmp_path / "k", "virbr9")
    assert 'interface = "virbr9";' in text and 'port = "47123";' in text
    assert f'key_file = "{tmp_path / "k"}";' in text and 'backend = "libvirt";' in text


def test_each_cluster_may_fence_only_its_own_nodes(tmp_path: Path) -> None:
    config = LabConfig(name="fencetest", subnet="10.90.0.0/24", state_root=tmp_path)
    text = fencing.render_conf(config, tmp_path / "k", "virbr9")
    groups = re.findall(r"group \{(.*?)\}", text, flags=re.S)
    members = [(sorted(re.findall(r'ip = "([^"]+)"', g)), sorted(re.findall(r'uuid = "([^"]+)"', g))) for g in groups]
    assert members == [
        (["10.90.0.12", "10.90.0.13"], ["fencetest_vnode2", "fencetest_vnode3"]),
        (["10.90.0.21", "10.90.0.22"], ["fencetest_nas1", "fencetest_nas2"]),
    ]


def test_a_stale_pid_file_is_not_a_running_daemon(tmp_path: Path) -> None:
    config = LabConfig(name="fencetest", state_root=tmp_path)
    folder = config.state_dir / "fence_virtd"
    folder.mkdir(parents=True)
    (folder / "fence_virtd.pid").write_text("1\n")  # init, not our fence_virtd
    assert fencing.running_pid(config.state_dir) is None
    assert fencing.stop(config.state_dir) is False


def test_a_taken_port_is_refused_with_what_to_do(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as holder:
        holder.bind(("0.0.0.0", 0))
        port = holder.getsockname()[1]
        if port < 1024:
            pytest.skip("the kernel gave a privileged port")
        config = LabConfig(name="fencetest", fence_port=port, state_root=tmp_path)
        with pytest.raises(fencing.FencingError, match=f"UDP port {port} is taken.*set fence_port in lab.toml"):
            fencing.ensure_running(config, tmp_path)
    assert not (config.state_dir / "fence_virtd").exists(), "a refused start wrote its files"


def test_a_daemon_whose_pid_file_is_gone_is_still_found_and_stopped(tmp_path: Path) -> None:
    """A cleaned state folder (or a lost pid file) must not orphan the lab's fence_virtd."""
    config = LabConfig(name="fencetest", state_root=tmp_path)
    conf = config.state_dir / "fence_virtd" / "fence_virt.conf"
    # A stand-in with fence_virtd's name and arguments: the real one needs the lab's bridge.
    code = "import time; time.sleep(60)"
    mine = subprocess.Popen(["fence_virtd", "-c", code, "-f", str(conf)], executable=sys.executable)
    other = subprocess.Popen(["fence_virtd", "-c", code, "-f", str(tmp_path / "other.conf")], executable=sys.executable)
    try:
        wait_for("both stand-ins", 10, lambda: all(Path(f"/proc/{p.pid}/cmdline").read_bytes() for p in (mine, other)))
        assert not (conf.parent / "fence_virtd.pid").exists()
        assert fencing.running_pid(config.state_dir) == mine.pid
        assert fencing.stop(config.state_dir) is True
        assert mine.wait(timeout=10) is not None
        assert other.poll() is None, "another lab's daemon was stopped"
        assert fencing.running_pid(config.state_dir) is None
    finally:
        for p in (mine, other):
            p.kill()
            p.wait()
