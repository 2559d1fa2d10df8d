"""Remote commands are bounded: a hung one ends with an error that names it, within its timeout."""

from __future__ import annotations

import stat
import time
from pathlib import Path

import pytest

from harness.lab.ssh import LabError, Ssh
from harness.waiting import WaitTimeout


class LocalSsh(Ssh):
    """The real run() over a local shell instead of ssh: the node is this host."""

    def argv(self, node: str, command: str) -> list[str]:
        return ["sh", "-c", command]


@pytest.fixture
def ssh(tmp_path: Path) -> LocalSsh:
    return LocalSsh(tmp_path, tmp_path, "t", lambda: "")


@pytest.mark.parametrize("log", [None, "provision"])
def test_a_hung_command_ends_with_an_error_naming_it(ssh: LocalSsh, log: str | None) -> None:
    started = time.monotonic()
    with pytest.raises(LabError, match=r"nas1: 'sleep 30' did not finish within 1 s"):
        ssh.run("nas1", "sleep 30", log=log, timeout=1)
    assert time.monotonic() - started < 10


def test_a_failed_command_shows_its_output_and_exit(ssh: LocalSsh) -> None:
    with pytest.raises(LabError, match=r"(?s)nas1: 'echo why; exit 3' failed \(exit 3\):\nwhy"):
        ssh.run("nas1", "echo why; exit 3")


def test_a_command_within_its_timeout_returns_its_output(ssh: LocalSsh) -> None:
    assert ssh.run("nas1", "echo fine", timeout=30) == "fine\n"


def test_without_learnt_host_keys_no_ssh_config_is_made(tmp_path: Path) -> None:
    """The harness does not SSH to a node whose key it could not check; it says how to learn them."""
    ssh = Ssh(tmp_path, tmp_path, "t", lambda: "Host nas1\n  HostName 10.0.0.1\n  StrictHostKeyChecking no\n")
    with pytest.raises(LabError, match=r"host keys are not known .*'ha-lab up' learns them"):
        ssh.config()
    assert not (tmp_path / "ssh_config").exists()
    ssh.known_hosts.write_text("nas1,10.77.0.21 ssh-ed25519 AAAA\n")
    text = ssh.config().read_text()
    assert "StrictHostKeyChecking yes" in text and "StrictHostKeyChecking no" not in text
    wrapper = ssh.command()
    assert wrapper.read_text() == f'#!/bin/sh\nexec ssh -F "{tmp_path / "ssh_config"}" "$@"\n'


@pytest.fixture
def private_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "tmp"
    root.mkdir()
    monkeypatch.setattr("harness.lab.ssh.CONTROL_ROOT", root)
    return root


def test_the_control_folder_comes_back_after_a_destroy_removed_it(tmp_path: Path, private_root: Path) -> None:
    """A kept config must not point at a socket folder that is gone (ssh: cannot bind to path)."""
    ssh = Ssh(tmp_path, tmp_path, "t", lambda: "Host nas1\n  HostName 10.0.0.1\n")
    ssh.known_hosts.write_text("nas1,10.0.0.1 ssh-ed25519 AAAA\n")
    ssh.config()
    [control] = private_root.iterdir()
    control.rmdir()
    ssh.config()
    assert control.is_dir() and stat.S_IMODE(control.stat().st_mode) == 0o700


@pytest.mark.parametrize("spoil", ["open", "symlink"])
def test_a_control_folder_others_can_reach_is_refused(tmp_path: Path, private_root: Path, spoil: str) -> None:
    ssh = Ssh(tmp_path, tmp_path, "t", lambda: "Host nas1\n  HostName 10.0.0.1\n")
    ssh.known_hosts.write_text("nas1,10.0.0.1 ssh-ed25519 AAAA\n")
    control = ssh.control_dir()
    if spoil == "open":
        control.chmod(0o777)
    else:
        control.rmdir()
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir(mode=0o700)
        control.symlink_to(elsewhere)
    with pytest.raises(LabError, match=r"not a private folder of this user.*remove it"):
        ssh.config()
    assert not (tmp_path / "ssh_config").exists()


class FlakySsh(Ssh):
    """A node that answers only once `marker` exists; before, it ends as ssh does, exit 255."""

    def __init__(self, tmp_path: Path) -> None:
        super().__init__(tmp_path, tmp_path, "t", lambda: "")
        self.marker = tmp_path / "tried"

    def argv(self, node: str, command: str) -> list[str]:
        fail = "echo 'No route to host' >&2; exit 255"
        return ["sh", "-c", f"test -e {self.marker} || {{ touch {self.marker} 2>/dev/null; {fail}; }}"]


def test_a_node_that_answers_late_is_waited_for(tmp_path: Path) -> None:
    ssh = FlakySsh(tmp_path)
    ssh.wait_reachable("nas2", timeout=30)
    assert ssh.marker.exists()


def test_a_node_that_never_answers_is_an_error_naming_it_and_why(tmp_path: Path) -> None:
    ssh = FlakySsh(tmp_path)
    ssh.marker = tmp_path / "no-such-folder" / "tried"  # touch fails: never answers
    started = time.monotonic()
    with pytest.raises(WaitTimeout, match=r"nas2 answering SSH: not within 1 s; last: No route to host"):
        ssh.wait_reachable("nas2", timeout=1)
    assert time.monotonic() - started < 10
