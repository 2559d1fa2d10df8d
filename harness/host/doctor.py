"""Check the host for the lab, and with `fix` (as root) put it right.

Finds the accelerator by booting the guest, not by the presence of /dev/kvm:
on some hosts /dev/kvm exists but stock kernels hang under it.
"""

from __future__ import annotations

import grp
import json
import os
import platform
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness.config.lab import REPO
from harness.errors import HarnessError
from harness.host.guest_image import GuestImage, build_guest_image
from harness.host.network import virsh
from harness.host.qemu_vm import GuestSpec, QemuGuest
from harness.probe.observer import Observer
from harness.waiting import WaitTimeout, wait_for

HOST_PACKAGES = REPO / "provision" / "host" / "host-packages"
KVM_BOOT_TIMEOUT_S = 60


class DoctorError(HarnessError):
    """The host cannot run the lab as it is; the message says what to run."""


@dataclass
class Finding:
    check: str
    ok: bool
    detail: str


@dataclass
class Report:
    findings: list[Finding]
    accel: str  # "kvm" or "tcg"

    @property
    def ok(self) -> bool:
        return all(f.ok for f in self.findings)

    def table(self) -> str:
        width = max(len(f.check) for f in self.findings)
        rows = [f"{f.check:<{width}}  {'ok ' if f.ok else 'BAD'}  {f.detail}" for f in self.findings]
        return "\n".join([*rows, f"{'accelerator':<{width}}  ->   {self.accel}"])


def wanted_packages() -> list[str]:
    words = []
    for line in HOST_PACKAGES.read_text().splitlines():
        words += line.split("#", 1)[0].split()
    return words


def missing_packages() -> list[str]:
    missing = []
    for package in wanted_packages():
        result = subprocess.run(
            ["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True, check=False
        )
        if "ok installed" not in result.stdout:
            missing.append(package)
    return missing


def _running(name: str) -> bool:
    return subprocess.run(["pgrep", "-x", name], capture_output=True, check=False).returncode == 0


def _systemd() -> bool:
    return Path("/run/systemd/system").is_dir()


def _kvm_mode_ok() -> tuple[bool, str]:
    kvm = Path("/dev/kvm")
    if not kvm.exists():
        return True, "no /dev/kvm (TCG only)"
    st = kvm.stat()
    try:
        group = grp.getgrgid(st.st_gid).gr_name
    except KeyError:
        group = str(st.st_gid)
    mode = stat.S_IMODE(st.st_mode)
    # At 0600 libvirt re-probes QEMU on every call and vagrant-libvirt stalls.
    return (group == "kvm" and mode & 0o060 == 0o060), f"/dev/kvm {group} {mode:04o}"


def _fix_kvm_mode() -> None:
    kvm = Path("/dev/kvm")
    if kvm.exists():
        shutil.chown(kvm, group="kvm")
        kvm.chmod(0o660)


def _start_daemons() -> None:
    for daemon in ("virtlogd", "libvirtd"):
        if _running(daemon):
            continue
        if _systemd():
            subprocess.run(["systemctl", "start", daemon], check=True)
        else:
            # No systemd here: start them ourselves (-l would want TLS).
            subprocess.run([daemon, "-d"], check=True)
    try:
        wait_for("libvirtd answering on qemu:///system", 30, lambda: virsh("version").returncode == 0, every_s=0.5)
    except WaitTimeout as err:
        raise DoctorError(f"{err}: libvirtd started but does not answer; see /var/log/libvirt") from err


def _pool_ok() -> bool:
    info = virsh("pool-info", "default").stdout
    return any(line.split() == ["State:", "running"] for line in info.splitlines())


def _fix_pool() -> None:
    # vagrant-libvirt puts boxes and disks into the pool named "default".
    if virsh("pool-info", "default").returncode != 0:
        Path("/var/lib/libvirt/images").mkdir(parents=True, exist_ok=True)
        virsh("pool-define-as", "default", "dir", "--target", "/var/lib/libvirt/images")
    virsh("pool-start", "default")
    virsh("pool-autostart", "default")


def kvm_boots(image: GuestImage, timeout: float = KVM_BOOT_TIMEOUT_S) -> bool:
    """Boot the guest with KVM and wait for its first heartbeat."""
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return False
    with tempfile.TemporaryDirectory(prefix="halab-kvm-check-") as tmp:
        disk = Path(tmp) / "disk.img"
        disk.write_bytes(bytes(4096 * 16))
        with Observer() as observer:
            spec = GuestSpec(image=image, disk=disk, observer=observer.address, ring=16, accel="kvm")
            try:
                with QemuGuest(spec, Path(tmp), "kvm-check"):
                    observer.wait_for_heartbeat(timeout)
                    return True
            except (TimeoutError, HarnessError):
                return False


def nested_enabled() -> bool:
    for module in ("kvm_amd", "kvm_intel"):
        param = Path(f"/sys/module/{module}/parameters/nested")
        if param.exists() and param.read_text().strip() in ("1", "Y"):
            return True
    return False


def detect_accel(cache: Path, progress: Callable[[str], None], recheck: bool = False) -> tuple[str, str]:
    """("kvm" or "tcg", why), remembered per host kernel and QEMU until `recheck`."""
    qemu = subprocess.run(["qemu-system-x86_64", "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    key = {"kernel": platform.release(), "qemu": qemu, "kvm": os.path.exists("/dev/kvm")}
    memo = cache / "accel.json"
    if memo.exists() and not recheck:
        saved = json.loads(memo.read_text())
        if saved.get("key") == key:
            return saved["accel"], saved["why"] + " (remembered; --recheck to boot again)"
    progress("doctor: booting the guest under KVM to see whether KVM works here")
    if kvm_boots(build_guest_image(progress=progress)):
        accel, why = "kvm", "a KVM guest booted" + ("; nested on" if nested_enabled() else "; nested OFF")
    else:
        accel, why = "tcg", "no KVM guest booted within 60 s: TCG"
    cache.mkdir(parents=True, exist_ok=True)
    memo.write_text(json.dumps({"key": key, "accel": accel, "why": why}))
    return accel, why


def examine(cache: Path, fix: bool = False, recheck: bool = False, progress: Callable[[str], None] = print) -> Report:
    """Check (and with `fix`, repair) the host; raise DoctorError if it cannot be fixed here."""
    if fix and os.geteuid() != 0:
        raise DoctorError("fixing the host needs root: sudo ha-lab doctor --fix")
    missing = missing_packages()
    if missing and fix:
        progress(f"doctor: installing {' '.join(missing)}")
        subprocess.run(["apt-get", "update", "-qq"], check=True)
        result = subprocess.run(
            ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing],
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise DoctorError(f"apt-get install failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
        missing = missing_packages()
    findings = [Finding("packages", not missing, "all installed" if not missing else "missing " + " ".join(missing))]
    if missing:
        raise DoctorError(f"{findings[0].detail}: run 'sudo bash bootstrap.sh' or 'sudo ha-lab doctor --fix'")

    kvm_ok, kvm_detail = _kvm_mode_ok()
    if not kvm_ok and fix:
        if _running("libvirtd"):
            raise DoctorError(f"{kvm_detail}: stop libvirtd first; it caches the bad mode (pkill -x libvirtd)")
        _fix_kvm_mode()
        kvm_ok, kvm_detail = _kvm_mode_ok()
    findings.append(Finding("/dev/kvm", kvm_ok, kvm_detail))

    if fix:
        _start_daemons()
    daemons = {d: _running(d) for d in ("virtlogd", "libvirtd")}
    findings.append(Finding("daemons", all(daemons.values()), ", ".join(f"{d} {'up' if up else 'DOWN'}"
                                                                           for d, up in daemons.items())))  # fmt: skip
    if all(daemons.values()):
        if fix and not _pool_ok():
            _fix_pool()
        findings.append(Finding("storage pool", _pool_ok(), "libvirt pool 'default'"))
    plugins = subprocess.run(["vagrant", "plugin", "list"], capture_output=True, text=True, check=False).stdout
    findings.append(Finding("vagrant-libvirt", "vagrant-libvirt" in plugins, plugins.strip().replace("\n", "; ")))
    accel, why = detect_accel(cache, progress, recheck)
    findings.append(Finding("accelerator", True, why))
    report = Report(findings, accel)
    if not report.ok:
        bad = "; ".join(f"{f.check}: {f.detail}" for f in findings if not f.ok)
        raise DoctorError(f"{bad}\n{report.table()}\nrun 'sudo ha-lab doctor --fix'")
    return report
