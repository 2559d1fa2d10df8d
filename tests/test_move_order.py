"""Both moves at once: the migration starts first, the NFS move once it reached its destination.

The lab's SSH and libvirt are replaced at their edge (`run_timed`, `wait_for_incoming`);
the ordering and the error handling under test are placement's own.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest

from harness import hypervisor, placement
from harness.lab import LabError
from harness.placement import Command


class Recorder:
    def __init__(self, fail: str | None = None) -> None:
        self.events: list[str] = []
        self.lock = threading.Lock()
        self.fail = fail

    def add(self, event: str) -> None:
        with self.lock:
            self.events.append(event)

    def run_timed(self, _lab: object, node: str, command: str) -> Command:
        what = "guest" if f"--resource {placement.GUEST} " in command else "nfs"
        self.add(f"{what} started")
        if what == self.fail:
            raise LabError(f"{what} move refused")
        return Command(node, command, 0, 1, "")


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> Callable[..., Recorder]:
    def make(fail: str | None = None, gate: Callable[[Recorder, Callable[[], bool]], float] | None = None) -> Recorder:
        rec = Recorder(fail)
        monkeypatch.setattr(placement, "run_timed", rec.run_timed)
        monkeypatch.setattr(placement, "control_node", lambda _lab, role: f"{role}-node")

        def wait_for_incoming(_config: Path, node: str, _timeout: float, pending: Callable[[], bool]) -> float:
            if gate is not None:
                return gate(rec, pending)
            while pending() and "guest started" not in rec.events:
                time.sleep(0.001)
            rec.add(f"guest arrived on {node}")
            return 0.0

        monkeypatch.setattr(hypervisor, "wait_for_incoming", wait_for_incoming)
        return rec

    return make


LAB = SimpleNamespace(ssh_config=lambda: Path("/nonexistent/ssh_config"))


def test_the_nfs_move_starts_after_the_migration_reached_its_destination(recorder: Callable[..., Recorder]) -> None:
    rec = recorder()
    commands = placement.move(LAB, {"guest": "vnode2", "nfs": "nas2"}, 60)  # type: ignore[arg-type]
    assert rec.events == ["guest started", "guest arrived on vnode2", "nfs started"]
    assert [c.node for c in commands] == ["hv-node", "nas-node"]


def test_a_refused_migration_does_not_move_the_storage(recorder: Callable[..., Recorder]) -> None:
    def gate(rec: Recorder, pending: Callable[[], bool]) -> float:
        while pending():  # the guest's command fails: the gate stops waiting without an arrival
            time.sleep(0.001)
        return 0.0

    rec = recorder(fail="guest", gate=gate)
    with pytest.raises(LabError, match="guest move refused"):
        placement.move(LAB, {"guest": "vnode2", "nfs": "nas2"}, 60)  # type: ignore[arg-type]
    assert "nfs started" not in rec.events


def test_a_migration_that_never_arrives_leaves_the_storage_where_it_is(recorder: Callable[..., Recorder]) -> None:
    def gate(_rec: Recorder, _pending: Callable[[], bool]) -> float:
        raise TimeoutError("the guest's migration reached no prepare step on vnode2 within 60 s")

    rec = recorder(gate=gate)
    with pytest.raises(LabError, match="NFS move was not started"):
        placement.move(LAB, {"guest": "vnode2", "nfs": "nas2"}, 60)  # type: ignore[arg-type]
    assert rec.events == ["guest started"]


@pytest.mark.parametrize(("what", "target"), [("guest", "vnode3"), ("nfs", "nas1")])
def test_one_move_alone_waits_for_nothing(recorder: Callable[..., Recorder], what: str, target: str) -> None:
    def gate(_rec: Recorder, _pending: Callable[[], bool]) -> float:
        raise AssertionError("a single move has nothing to wait for")

    rec = recorder(gate=gate)
    placement.move(LAB, {what: target}, 60)  # type: ignore[arg-type]
    assert rec.events == [f"{what} started"]
