"""Connections to the vnodes' libvirt go through the lab's ssh and carry a keepalive, which libvirt runs
from its event loop."""

from __future__ import annotations

from pathlib import Path

import libvirt
import pytest

from harness.cluster import hypervisor


class FakeConnection:
    """The far side is a vnode over SSH; only the call the harness makes is recorded."""

    def __init__(self) -> None:
        self.keepalive: tuple[int, int] | None = None

    def setKeepAlive(self, interval: int, count: int) -> int:
        self.keepalive = (interval, count)
        return 0


def test_a_vnode_connection_gets_a_keepalive_and_the_event_loop_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[str] = []
    fake = FakeConnection()
    monkeypatch.setattr(libvirt, "open", lambda uri: opened.append(uri) or fake)
    assert hypervisor.connect(Path("/state/ha lab/ssh"), "vnode2") is fake
    # Through the lab's own ssh, which checks the vnode's host key: no no_verify.
    assert opened == ["qemu+ssh://vnode2/system?command=/state/ha%20lab/ssh&no_tty=1"]
    assert fake.keepalive == (hypervisor.KEEPALIVE_INTERVAL_S, hypervisor.KEEPALIVE_COUNT)
    assert hypervisor._events is not None and hypervisor._events.is_alive()
