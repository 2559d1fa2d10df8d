"""Both moves at once: the migration starts first, the NFS move once its switchover is over
(the guest runs on its destination); or, on purpose, with the switchover inside the NFS outage.

The lab's SSH and libvirt are replaced at their edge (`run_timed`, `hypervisor.connect`,
`hypervisor.guest_state`, `guest_active`); the ordering and the error handling under test are placement's own.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest

from harness.cluster import hypervisor, placement
from harness.cluster.placement import Command
from harness.lab.ssh import LabError
from harness.waiting import WaitTimeout

MIGRATION_S = 3.0  # how long a fake migration lasts unless the guest arrives first


class FakeLab:
    """Records the order of the commands; a migration lasts until the guest is seen on its destination."""

    def __init__(self, refuse: str | None = None, arrives: bool = True) -> None:
        self.events: list[str] = []
        self.lock = threading.Lock()
        self.refuse = refuse
        self.arrives = arrives
        self.arrived = threading.Event()
        self.gone = threading.Event()
        self.polls = 0

    def add(self, event: str) -> None:
        with self.lock:
            self.events.append(event)

    def run_timed(self, _lab: object, node: str, command: str) -> Command:
        what = "guest" if f"--resource {placement.GUEST} " in command else "nfs"
        self.add(f"{what} started")
        if what == self.refuse:
            raise LabError(f"{what} move refused")
        if what == "guest":
            self.gone.wait(MIGRATION_S)  # the command returns once libvirt's job completed on the source
        return Command(node, command, 0, 1, "")

    def guest_active(self, conn: SimpleNamespace) -> bool:
        if conn.node == "vnode3":  # the source: active until the switchover, then gone a poll later
            gone = self.arrived.is_set() and self.polls >= 4
            if gone and "guest gone from vnode3" not in self.events:
                self.add("guest gone from vnode3")
                self.gone.set()
            self.polls += self.arrived.is_set()
            return not gone
        if self.arrives and "guest started" in self.events and "guest defined on" not in " ".join(self.events):
            self.add(f"guest defined on {conn.node}")
        return self.arrives and "guest started" in self.events

    def guest_state(self, conn: SimpleNamespace) -> str | None:
        """Paused (incoming) until the fake switchover, which comes a few polls after the arrival."""
        if not self.guest_active(conn):
            return None
        self.polls += 1
        if self.polls >= 3 and not self.arrived.is_set():
            self.add(f"guest running on {conn.node}")
            self.arrived.set()
        return "running" if self.arrived.is_set() else "paused"

    def ssh(self, node: str, command: str) -> str:
        if "migrate-setspeed" in command:
            self.add(f"speed {command.split('--bandwidth ')[1].split()[0]} on {node}")
        return ""

    def nfs_port_closed(self, _lab: object) -> bool:
        closed = "nfs started" in self.events
        if closed and "port closed" not in self.events:
            self.add("port closed")
        return closed


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Callable[..., FakeLab]:
    def make(refuse: str | None = None, arrives: bool = True) -> FakeLab:
        lab = FakeLab(refuse, arrives)
        monkeypatch.setattr(placement, "run_timed", lab.run_timed)
        monkeypatch.setattr(placement, "control_node", lambda _lab, role: f"{role}-node")
        monkeypatch.setattr(hypervisor, "connect", lambda _config, node: SimpleNamespace(node=node, close=lambda: None))
        monkeypatch.setattr(hypervisor, "guest_active", lab.guest_active)
        monkeypatch.setattr(hypervisor, "guest_state", lab.guest_state)
        monkeypatch.setattr(placement, "nfs_port_closed", lab.nfs_port_closed)
        return lab

    return make


def lab_of(fake: FakeLab) -> SimpleNamespace:
    nodes = [SimpleNamespace(name=n) for n in ("vnode2", "vnode3")]
    return SimpleNamespace(
        ssh_command=lambda: Path("/nonexistent/ssh"),
        ssh=fake.ssh,
        config=SimpleNamespace(nodes=lambda role: nodes if role == "hv" else []),
    )


def test_the_nfs_move_starts_after_the_migrations_switchover(fake: Callable[..., FakeLab]) -> None:
    lab = fake()
    commands = placement.move(lab_of(lab), {"guest": "vnode2", "nfs": "nas2"}, 60)  # type: ignore[arg-type]
    # Defined on the destination (prepare) is not enough: the guest must run there and be gone from the source.
    assert lab.events == [
        "guest started",
        "guest defined on vnode2",
        "guest running on vnode2",
        "guest gone from vnode3",
        "nfs started",
    ]
    assert [c.node for c in commands] == ["hv-node", "nas-node"]


def test_the_outage_kind_holds_the_migration_until_the_nfs_port_closed(fake: Callable[..., FakeLab]) -> None:
    lab = fake()
    placement.move(lab_of(lab), {"guest": "vnode2", "nfs": "nas2"}, 60, switchover_in_outage=True)  # type: ignore[arg-type]
    held, free = f"speed {placement.HELD_MIBS} on vnode3", f"speed {placement.FREE_MIBS} on vnode3"
    assert lab.events[:5] == [held, "guest started", "guest defined on vnode2", "nfs started", "port closed"]
    assert lab.events[5] == free


def test_a_refused_migration_does_not_move_the_storage(fake: Callable[..., FakeLab]) -> None:
    lab = fake(refuse="guest", arrives=False)
    with pytest.raises(LabError, match="guest move refused"):
        placement.move(lab_of(lab), {"guest": "vnode2", "nfs": "nas2"}, 60)  # type: ignore[arg-type]
    assert "nfs started" not in lab.events


def test_a_migration_that_never_arrives_leaves_the_storage_where_it_is(fake: Callable[..., FakeLab]) -> None:
    lab = fake(arrives=False)
    with pytest.raises(WaitTimeout, match="NFS move was not started"):
        placement.move(lab_of(lab), {"guest": "vnode2", "nfs": "nas2"}, 1)  # type: ignore[arg-type]
    assert lab.events == ["guest started"]


@pytest.mark.parametrize(("what", "target"), [("guest", "vnode3"), ("nfs", "nas1")])
def test_one_move_alone_waits_for_nothing(
    fake: Callable[..., FakeLab], monkeypatch: pytest.MonkeyPatch, what: str, target: str
) -> None:
    lab = fake()
    lab.gone.set()  # a lone migration's fake ends at once

    def no_libvirt(_config: Path, _node: str) -> None:
        raise AssertionError("a single move has nothing to wait for")

    monkeypatch.setattr(hypervisor, "connect", no_libvirt)
    placement.move(lab_of(lab), {what: target}, 60)  # type: ignore[arg-type]
    assert lab.events == [f"{what} started"]
