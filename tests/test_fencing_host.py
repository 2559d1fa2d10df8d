"""The host's side of fencing without a lab: a key and a fence_virtd per cluster, their configs, refusing
a taken port, finding and stopping the lab's daemons."""

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
    key = fencing.write_key(tmp_path, "hv")
    first = key.read_bytes()
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and len(first) == 4096
    assert fencing.write_key(tmp_path, "hv").read_bytes() == first  # a lab keeps its key


def test_each_cluster_and_each_lab_gets_a_key_of_its_own(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    keys = [fencing.write_key(tmp_path / lab, role).read_bytes() for lab in ("a", "b") for role in fencing.ROLES]
    assert len(set(keys)) == 4


def test_each_cluster_listens_on_the_labs_bridge_on_its_own_port_with_its_own_key(tmp_path: Path) -> None:
    config = LabConfig(name="fencetest", fence_port=47123, state_root=tmp_path)
    for role, port in (("hv", 47123), ("nas", 47124)):
        text = fencing.render_conf(config, role, tmp_path / f"k-{role}", "virbr9")
        assert 'interface = "virbr9";' in text and f'port = "{port}";' in text
        assert f'key_file = "{tmp_path / f"k-{role}"}";' in text and 'backend = "libvirt";' in text


def test_each_cluster_may_fence_only_its_own_nodes(tmp_path: Path) -> None:
    config = LabConfig(name="fencetest", subnet="10.90.0.0/24", state_root=tmp_path)
    members = {}
    for role in fencing.ROLES:
        groups = re.findall(r"group \{(.*?)\}", fencing.render_conf(config, role, tmp_path / "k", "virbr9"), re.S)
        members[role] = [
            (sorted(re.findall(r'ip = "([^"]+)"', g)), sorted(re.findall(r'uuid = "([^"]+)"', g))) for g in groups
        ]
    assert members == {
        "hv": [(["10.90.0.12", "10.90.0.13"], ["fencetest_vnode2", "fencetest_vnode3"])],
        "nas": [(["10.90.0.21", "10.90.0.22"], ["fencetest_nas1", "fencetest_nas2"])],
    }


def test_a_stale_pid_file_is_not_a_running_daemon(tmp_path: Path) -> None:
    config = LabConfig(name="fencetest", state_root=tmp_path)
    folder = config.state_dir / "fence_virtd"
    folder.mkdir(parents=True)
    (folder / "hv.pid").write_text("1\n")  # init, not our fence_virtd
    assert fencing.running_pids(config.state_dir) == {}
    assert fencing.stop(config.state_dir) == []


def test_a_taken_port_is_refused_with_what_to_do(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as holder:
        holder.bind(("0.0.0.0", 0))
        port = holder.getsockname()[1]
        if port < 1024:
            pytest.skip("the kernel gave a privileged port")
        config = LabConfig(name="fencetest", fence_port=port, state_root=tmp_path)
        with pytest.raises(fencing.FencingError, match=f"UDP port {port} .* is taken.*set fence_port in lab.toml"):
            fencing.ensure_running(config, tmp_path)
    assert not (config.state_dir / "fence_virtd").exists(), "a refused start wrote its files"


def test_daemons_whose_pid_files_are_gone_are_still_found_and_stopped(tmp_path: Path) -> None:
    """A cleaned state folder (or a lost pid file) must not orphan the lab's fence_virtd, nor must
    one started by older code (one daemon for the lab, fence_virt.conf)."""
    config = LabConfig(name="fencetest", state_root=tmp_path)
    folder = config.state_dir / "fence_virtd"
    # Stand-ins with fence_virtd's name and arguments: the real one needs the lab's bridge.
    code = "import time; time.sleep(60)"
    confs = [folder / "hv.conf", folder / "fence_virt.conf", tmp_path / "other" / "hv.conf"]
    procs = [subprocess.Popen(["fence_virtd", "-c", code, "-f", str(c)], executable=sys.executable) for c in confs]
    mine, older, other = procs
    try:
        wait_for("the stand-ins", 10, lambda: all(Path(f"/proc/{p.pid}/cmdline").read_bytes() for p in procs))
        assert not folder.exists() or not list(folder.glob("*.pid"))
        assert fencing.running_pids(config.state_dir) == {"hv": mine.pid, "fence_virt": older.pid}
        assert fencing.stop(config.state_dir) == ["fence_virt", "hv"]
        assert mine.wait(timeout=10) is not None and older.wait(timeout=10) is not None
        assert other.poll() is None, "another lab's daemon was stopped"
        assert fencing.running_pids(config.state_dir) == {}
    finally:
        for p in procs:
            p.kill()
            p.wait()
