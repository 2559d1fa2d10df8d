"""One live migration of the guest between two QEMU processes on this host.

The component test asserts on it and the benchmark repeats it: the probe
runs, QEMU migrates over TCP on localhost through QMP, and the observer
and the record verifier judge the result.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.host.guest_image import GuestImage
from harness.host.qemu_vm import GuestSpec, QemuGuest
from harness.probe.observer import Marker, Observer, Sample
from harness.probe.records import Verification, verify
from harness.probe.timeline import Analysis, FreezeWindow, analyze

BOOT_TIMEOUT_S = 180
RESUME_TIMEOUT_S = 60


class GuestDidNotResume(HarnessError):
    """The migration completed but the guest never spoke again; the console says why."""

    def __init__(self, console: Path, cause: Exception) -> None:
        lines = console.read_text(errors="replace").splitlines() if console.exists() else []
        oops = next((line for line in lines if "BUG:" in line or "fault" in line or "panic" in line), None)
        super().__init__(f"{cause}; destination console ({console}): {oops or (lines[-1] if lines else 'empty')}")
        self.console = console
        self.oops = oops


@dataclass(frozen=True)
class LocalMigration:
    analysis: Analysis
    samples: list[Sample]
    qemu: dict[str, Any]  # the source's final query-migrate record
    verification: Verification
    source_status: str
    destination_status: str
    markers: dict[str, Marker]

    @property
    def downtime_ms(self) -> float:
        return float(self.qemu["downtime"])

    @property
    def total_time_ms(self) -> float:
        return float(self.qemu["total-time"])

    def migration_freeze(self) -> FreezeWindow | None:
        """The largest freeze window that overlaps the migration."""
        start, done = self.markers["migrate"].host_ns, self.markers["completed"].host_ns
        during = [w for w in self.analysis.freezes if w.start_ns <= done and (w.end_ns or done) >= start]
        return max(during, key=lambda w: w.freeze_ms, default=None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def migrate_locally(
    image: GuestImage,
    workdir: Path,
    hb_ms: int = 5,
    ring: int = 1024,
    load_mibs: int = 0,
    steady_s: float = 2.0,
    accel: str = "tcg",
    progress: Callable[[str], None] = lambda line: None,
) -> LocalMigration:
    disk = workdir / "disk.img"
    with open(disk, "wb") as f:
        f.truncate(ring * 4096)
    with Observer() as observer:
        spec = GuestSpec(image=image, disk=disk, observer=observer.address, hb_ms=hb_ms, ring=ring,
                         load_mibs=load_mibs, accel=accel)  # fmt: skip
        with QemuGuest(spec, workdir, "source") as source:
            progress("booting the source guest")
            sample = observer.wait_for_heartbeat(BOOT_TIMEOUT_S)
            while sample.hb.last_ack == 0:  # the disk loop is running too
                sample = observer.wait_for_heartbeat(RESUME_TIMEOUT_S, after_ns=sample.host_ns)
            time.sleep(steady_s)
            uri = f"tcp:127.0.0.1:{free_port()}"
            with QemuGuest(spec, workdir, "destination", incoming=uri) as destination:
                progress(f"migrating to {uri}")
                markers = {"migrate": observer.mark("migrate requested")}
                info = source.migrate(uri)
                markers["completed"] = observer.mark("migration completed")
                destination.wait_running()
                try:
                    observer.wait_for_heartbeat(RESUME_TIMEOUT_S, after_ns=markers["completed"].host_ns)
                except TimeoutError as silent:
                    raise GuestDidNotResume(destination.console, silent) from silent
                time.sleep(steady_s)
                source_status, destination_status = source.status(), destination.status()
                # The window closes on a heartbeat, not at an arbitrary instant: on a busy host a
                # TCG guest's heartbeat is now and then late by more than the freeze threshold,
                # and a window closing inside such a gap would call a running guest frozen.
                steady = observer.mark("steady time over")
                try:
                    last = observer.wait_for_heartbeat(RESUME_TIMEOUT_S, after_ns=steady.host_ns)
                except TimeoutError as silent:
                    raise GuestDidNotResume(destination.console, silent) from silent
                markers["stop"] = Marker(last.host_ns, "window closed on a heartbeat; stop requested")
                destination.cmd("stop")
        samples = [s for s in observer.samples if s.host_ns <= markers["stop"].host_ns]
    analysis = analyze(samples, interval_ms=hb_ms, end_ns=markers["stop"].host_ns, markers=list(markers.values()))
    upto = analysis.disk.last_ack if analysis.disk else 0
    return LocalMigration(
        analysis=analysis,
        samples=samples,
        qemu=info,
        verification=verify(disk, upto=upto, ring=ring),
        source_status=source_status,
        destination_status=destination_status,
        markers=markers,
    )
