"""A guest in a plain QEMU process on this host, driven over QMP.

Used by the component tests and the benchmark to live-migrate the guest
between two QEMU processes without a lab.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qemu.qmp.legacy import QEMUMonitorProtocol

from harness.errors import HarnessError
from harness.host.guest_image import GuestImage
from harness.waiting import NotYet, WaitTimeout, wait_for

QEMU = "qemu-system-x86_64"


class QemuError(HarnessError):
    pass


@dataclass
class GuestSpec:
    image: GuestImage
    disk: Path
    observer: tuple[str, int]
    hb_ms: int = 5
    rec_ms: int = 20
    ring: int = 1024
    load_mibs: int = 0
    load_ws_mib: int = 32
    memory_mib: int = 192
    accel: str = "tcg"
    extra_cmdline: list[str] = field(default_factory=list)

    def cmdline(self) -> str:
        # QEMU's user network: the host's 127.0.0.1 is 10.0.2.2 to the guest.
        host, port = self.observer
        address = "10.0.2.2" if host.startswith("127.") else host
        params = {
            "observer": f"{address}:{port}",
            "hb_ms": self.hb_ms,
            "rec_ms": self.rec_ms,
            "ring": self.ring,
            "load_mibs": self.load_mibs,
            "load_ws_mib": self.load_ws_mib,
        }
        words = ["console=ttyS0", "quiet", *(f"probe.{k}={v}" for k, v in params.items())]
        return " ".join(words + self.extra_cmdline)


class QemuGuest:
    """One QEMU process. `incoming` makes it wait for a migration on that URI."""

    def __init__(self, spec: GuestSpec, workdir: Path, name: str, incoming: str | None = None) -> None:
        if shutil.which(QEMU) is None:
            raise QemuError(f"{QEMU} not found: install qemu-system-x86 (bash bootstrap.sh does)")
        self.name = name
        self.console = workdir / f"{name}.console.log"
        self.qmp_path = workdir / f"{name}.qmp"
        self._log = open(workdir / f"{name}.qemu.log", "w")  # noqa: SIM115 - lives as long as QEMU
        args = [
            QEMU, "-name", name, "-machine", "pc", "-accel", spec.accel, "-cpu", "qemu64",
            "-m", str(spec.memory_mib), "-smp", "1", "-nodefaults", "-display", "none",
            "-serial", f"file:{self.console}",
            "-kernel", str(spec.image.kernel), "-initrd", str(spec.image.initrd),
            "-append", spec.cmdline(),
            # The settings of the lab's guest: no host cache, so an acknowledged
            # write is on the image file, and the image can be shared while migrating.
            "-drive", f"file={spec.disk},format=raw,if=none,id=disk0,cache=none,aio=native,werror=stop",
            "-device", "virtio-blk-pci,drive=disk0",
            "-netdev", "user,id=net0", "-device", "virtio-net-pci,netdev=net0,mac=52:54:00:4c:61:62",
            "-qmp", f"unix:{self.qmp_path},server=on,wait=off",
        ]  # fmt: skip
        if incoming:
            args += ["-incoming", incoming]
        self.process = subprocess.Popen(args, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.qmp = self._connect()

    def _connect(self, timeout: float = 30) -> QEMUMonitorProtocol:
        connected: list[QEMUMonitorProtocol] = []

        def ready() -> bool:
            if self.process.poll() is not None:
                raise QemuError(f"{self.name}: QEMU exited ({self.process.returncode}); see {self._log.name}")
            if not self.qmp_path.exists():
                raise NotYet(f"no QMP socket at {self.qmp_path}")
            qmp = QEMUMonitorProtocol(str(self.qmp_path))
            try:
                qmp.connect()
            except Exception as err:
                qmp.close()
                raise NotYet(f"QMP does not answer: {err}") from err
            connected.append(qmp)
            return True

        wait_for(f"{self.name}: QMP", timeout, ready, every_s=0.1, retry_on=())
        return connected[0]

    def cmd(self, command: str, **args: Any) -> Any:
        return self.qmp.cmd(command, **args)

    def status(self) -> str:
        return str(self.cmd("query-status")["status"])

    def migrate(self, uri: str, timeout: float = 300) -> dict[str, Any]:
        """Live-migrate to `uri`; return QEMU's final `query-migrate` record."""
        self.cmd("migrate", uri=uri)
        last: list[dict[str, Any]] = []

        def completed() -> bool:
            info: dict[str, Any] = self.cmd("query-migrate")
            last[:] = [info]
            if info.get("status") in ("failed", "cancelled"):
                raise QemuError(f"migration {info['status']}: {info.get('error-desc', info)}")
            if info.get("status") != "completed":
                raise NotYet(f"migration {info.get('status')}")
            return True

        try:
            wait_for("the local migration", timeout, completed, every_s=0.05, retry_on=())
        except WaitTimeout:
            self.cmd("migrate_cancel")
            raise
        return last[0]

    def wait_running(self, timeout: float = 60) -> None:
        def running() -> bool:
            status = self.status()
            if status != "running":
                raise NotYet(f"status {status}")
            return True

        wait_for(f"{self.name} running", timeout, running, every_s=0.05, retry_on=())

    def close(self) -> None:
        """Quit QEMU (ending any I/O in flight) and wait for it."""
        if self.process.poll() is None:
            try:
                self.cmd("quit")
            except Exception:
                self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        # After "quit" the monitor is gone; the library reports that as an error.
        with contextlib.suppress(EOFError, OSError):
            self.qmp.close()
        self._log.close()

    def __enter__(self) -> QemuGuest:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
