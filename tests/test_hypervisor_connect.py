"""Connections to the vnodes' libvirt carry a keepalive, which libvirt runs from its event loop."""

from __future__ import annotations

from pathlib import Path

import libvirt
import pytest

from harness.cluster import hypervisor

SSH_CONFIG = """Host vnode2
  HostName 192.168.121.12
  User vagrant
  Port 22
  IdentityFile "/state/halab/keys/vnode2"
"""


class FakeConnection:
    """The far side is a vnode over SSH; only the call the harness makes is recorded."""

    def __init__(self) -> None:
        self.keepalive: tuple[int, int] | None = None

    def setKeepAlive(self, interval: int, count: int) -> int:
        self.keepalive = (interval, count)
        return 0


def test_a_vnode_connection_gets_a_keepalive_and_the_event_loop_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "ssh_config"
    config.write_text(SSH_CONFIG)
    opened: list[str] = []
    fake = FakeConnection()
    monkeypatch.setattr(libvirt, "open", lambda uri: opened.append(uri) or fake)
    assert hypervisor.connect(config, "vnode2") is fake
    assert opened == [
        "qemu+ssh://vagrant@192.168.121.12:22/system?keyfile=/state/halab/keys/vnode2&no_verify=1&no_tty=1"
    ]
    assert fake.keepalive == (hypervisor.KEEPALIVE_INTERVAL_S, hypervisor.KEEPALIVE_COUNT)
    assert hypervisor._events is not None and hypervisor._events.is_alive()
