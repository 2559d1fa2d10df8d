"""Connections to the vnodes' libvirt go through the lab's ssh and carry a keepalive, which libvirt runs
from its event loop."""

from __future__ import annotations

from pathlib import Path

import libvirt
import pytest

from harness.cluster import hypervisor
from harness.errors import HarnessError


class FakeConnection:
    """The far side is a vnode over SSH; only the call the harness makes is recorded."""

    def __init__(self) -> None:
        self.keepalive: tuple[int, int] | None = None

    def setKeepAlive(self, interval: int, count: int) -> int:
        self.keepalive = (interval, count)
        return 0


def test_a_vnode_connection_gets_a_keepalive_and_the_event_loop_runs(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    opened: list[str] = []
    fake = FakeConnection()
    monkeypatch.setattr(libvirt, "open", lambda uri: opened.append(uri) or fake)
    ssh = tmp_path / "ha lab" / "ssh"
    ssh.parent.mkdir()
    ssh.write_text("#!/bin/sh\n")
    ssh.chmod(0o700)
    assert hypervisor.connect(ssh, "vnode2") is fake
    # Through the lab's own ssh, which checks the vnode's host key: no no_verify.
    assert opened == [f"qemu+ssh://vnode2/system?command={tmp_path}/ha%20lab/ssh&no_tty=1"]
    assert fake.keepalive == (hypervisor.KEEPALIVE_INTERVAL_S, hypervisor.KEEPALIVE_COUNT)
    assert hypervisor._events is not None and hypervisor._events.is_alive()


def test_a_config_file_instead_of_the_ssh_command_is_refused_before_libvirt(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    opened: list[str] = []
    monkeypatch.setattr(libvirt, "open", lambda uri: opened.append(uri))
    config = tmp_path / "ssh_config"
    config.write_text("Host vnode2\n")
    with pytest.raises(HarnessError, match="ssh_command"):
        hypervisor.connect(config, "vnode2")
    assert opened == []
