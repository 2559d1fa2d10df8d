"""Faults without a lab: where each one must leave things, and the recovery steps read off a timeline."""

from __future__ import annotations

import datetime
from pathlib import Path
from types import SimpleNamespace

import pytest

from harness.cluster.placement import Placement
from harness.cluster.watch import Change
from harness.config.lab import LabConfig
from harness.measure.record import RunRecord
from harness.probe.heartbeat import Heartbeat
from harness.probe.observer import Sample
from harness.probe.timeline import analyze
from harness.runs.faults import FAULTS, Strike
from harness.runs.faults.crash import count_refused_starts

S = 1_000_000_000


@pytest.fixture
def lab(tmp_path: Path) -> SimpleNamespace:
    """What plan() and fault_events() read of a lab: its nodes (no node is reached)."""
    return SimpleNamespace(config=LabConfig(name="faults", state_root=tmp_path), down=set())


@pytest.mark.parametrize(
    ("fault", "victim", "end"),
    [
        ("nas_crash", "nas2", Placement("vnode2", "nas1")),
        ("hypervisor_crash", "vnode2", Placement("vnode3", "nas2")),
        ("replication_cut", None, Placement("vnode2", "nas2")),
        ("migrate_in_grace", None, Placement("vnode3", "nas1")),
    ],
)
def test_each_fault_strikes_the_serving_node_and_expects_the_survivor(
    lab: SimpleNamespace, fault: str, victim: str | None, end: Placement
) -> None:
    assert FAULTS[fault].plan(lab, Placement("vnode2", "nas2")) == (victim, end)  # type: ignore[arg-type]


def strike(lab: SimpleNamespace, run: RunRecord, victim: str | None, expected: Placement) -> Strike:
    assert run.before is not None
    return Strike(lab, None, run, run.before, victim, expected, 60, print, "old")  # type: ignore[arg-type]


def beats(boot: str, start_s: float, end_s: float, ack0: int = 1) -> list[Sample]:
    out = []
    for i in range(int((end_s - start_s) * 200)):
        t = int((start_s + i / 200) * S)
        out.append(Sample(t, Heartbeat(i, t, t, boot, t, ack0 + i // 10, 1000, 0, 0)))
    return out


def test_a_nas_crash_is_read_as_detection_promotion_and_service(lab: SimpleNamespace) -> None:
    run = RunRecord("nas_crash", 0, "tcg", before=Placement("vnode2", "nas2"), started_ns=100 * S)
    run.samples = beats("a", 95, 140)
    run.analysis = analyze(run.samples, interval_ms=5)
    run.changes = [
        Change(90 * S, "nas", "node nas2", None, "online"),  # before the strike: not an event
        Change(112 * S, "nas", "node nas2", "online", "offline"),
        Change(130 * S, "drbd nas1", "role", "Secondary", "Primary"),
        Change(131 * S, "nas", "nfs_ip", "Stopped -", "Starting nas1"),
        Change(137 * S, "nas", "nfs_ip", "Starting nas1", "Started nas1"),
    ]
    lab.ssh = lambda node, command: ""  # the fencer logged nothing: no time rather than a wrong one
    events = FAULTS["nas_crash"].events(run, strike(lab, run, "nas2", Placement("vnode2", "nas1")))
    assert events == {"detected_s": 12.0, "fenced_s": None, "promoted_s": 30.0, "served_s": 37.0}


def test_a_hypervisor_crash_is_read_as_a_restart_with_its_new_boot(lab: SimpleNamespace) -> None:
    day = int(datetime.datetime(2026, 11, 29, tzinfo=datetime.UTC).timestamp())  # a whole second, like the history
    run = RunRecord("hypervisor_crash", 0, "tcg", before=Placement("vnode2", "nas2"), started_ns=(day + 100) * S)
    run.samples = beats("old", day + 95, day + 100) + beats("new", day + 160, day + 170, ack0=500)
    run.analysis = analyze(run.samples, interval_ms=5)
    run.changes = [
        Change((day + 112) * S, "hv", "node vnode2", "online", "offline"),
        Change((day + 140) * S, "hv", "guest", "Stopped -", "Started vnode3"),
    ]
    lab.ssh = lambda node, command: (  # what `journalctl -o short-unix -t pacemaker-fenced` prints on vnode3
        f"{day + 111}.500000 vnode3 pacemaker-fenced[1365]:  notice: Operation 'reboot' targeting nas1 by vnode3 "
        "for x@vnode3: OK (complete)\n"
        f"{day + 115}.250000 vnode3 pacemaker-fenced[1365]:  notice: Operation 'reboot' targeting vnode2 by vnode3 "
        "for pacemaker-controld.1369@vnode3: OK (complete)\n"
    )
    events = FAULTS["hypervisor_crash"].events(run, strike(lab, run, "vnode2", Placement("vnode3", "nas2")))
    assert events == {"detected_s": 12.0, "fenced_s": 15.2, "guest_started_s": 40.0, "heartbeats_back_s": 60.0}


def test_a_replication_cut_is_read_as_peer_lost_then_reconnected(lab: SimpleNamespace) -> None:
    run = RunRecord("replication_cut", 0, "tcg", before=Placement("vnode3", "nas1"), started_ns=100 * S)
    run.samples = beats("a", 95, 200)
    run.analysis = analyze(run.samples, interval_ms=5)
    run.changes = [
        Change(95 * S, "drbd nas1", "connection", None, "Connected"),
        Change(111 * S, "drbd nas1", "connection", "Connected", "NetworkFailure"),
        Change(112 * S, "drbd nas1", "connection", "NetworkFailure", "WFConnection"),
        Change(171 * S, "drbd nas1", "connection", "WFConnection", "SyncSource"),
        Change(175 * S, "drbd nas1", "connection", "SyncSource", "Connected"),
    ]
    events = FAULTS["replication_cut"].events(run, strike(lab, run, None, Placement("vnode3", "nas1")))
    assert events == {"peer_lost_s": 11.0, "reconnected_s": 75.0}


@pytest.mark.parametrize(("failcount", "cleared"), [("3\n", True), ("0\n", False), ("\n", False)])
def test_starts_refused_while_the_dead_vnodes_lock_lived_are_counted_then_cleared(
    lab: SimpleNamespace, failcount: str, cleared: bool
) -> None:
    commands: list[tuple[str, str]] = []

    def ssh(node: str, command: str) -> str:
        commands.append((node, command))
        return failcount if "crm_failcount" in command else ""

    lab.ssh = ssh
    run = RunRecord("hypervisor_crash", 0, "tcg", before=Placement("vnode2", "nas2"))
    count_refused_starts(strike(lab, run, "vnode2", Placement("vnode3", "nas2")), "vnode3")
    assert run.events["guest_starts_refused"] == float(failcount.strip() or 0)
    assert (("vnode3", "sudo crm_resource --cleanup --resource guest --node vnode3") in commands) is cleared
    assert bool(run.notes) is cleared
