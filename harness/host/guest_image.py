"""Build the guest (kernel + initramfs with the probe), cached by a hash of its recipe."""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness.config.lab import REPO
from harness.errors import HarnessError

GUEST_DIR = REPO / "provision" / "host" / "guest"
RECIPE = [
    GUEST_DIR / "build-image.sh",
    GUEST_DIR / "init",
    GUEST_DIR / "probe" / "build.sh",
    GUEST_DIR / "probe" / "probe.c",
    GUEST_DIR / "probe" / "wire.h",
]
# The cloud flavour: virtio drivers, kvmclock, a third of the generic kernel's size.
KERNEL_META_PACKAGE = "linux-image-cloud-amd64"
BUSYBOX_PACKAGE = "busybox-static"
BUILD_TOOLS = ["apt-get", "apt-cache", "dpkg-deb", "depmod", "cpio", "gzip", "gcc"]


class GuestImageError(HarnessError):
    """The guest cannot be built here; the message says what to do."""


@dataclass(frozen=True)
class GuestImage:
    kernel: Path
    initrd: Path
    packages: list[str]
    key: str


def cache_root() -> Path:
    return Path(os.environ.get("HA_LAB_CACHE", Path.home() / ".cache" / "ha-lab"))


def resolve_packages() -> list[str]:
    """The exact `package=version` the recipe will download, from apt's lists."""
    _require_tools()
    kernel = _apt_cache("depends", KERNEL_META_PACKAGE)
    depends = [line.split(":", 1)[1].strip() for line in kernel.splitlines() if line.strip().startswith("Depends:")]
    images = [name for name in depends if name.startswith("linux-image-")]
    if not images:
        raise GuestImageError(f"apt knows no {KERNEL_META_PACKAGE}: run 'apt-get update' and try again")
    return [f"{name}={_candidate(name)}" for name in (images[0], BUSYBOX_PACKAGE)]


def recipe_key(packages: list[str]) -> str:
    digest = hashlib.sha256()
    for path in RECIPE:
        digest.update(path.relative_to(REPO).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    digest.update("\n".join(packages).encode())
    return digest.hexdigest()[:16]


def build_guest_image(cache: Path | None = None, progress: Callable[[str], None] = print) -> GuestImage:
    """Return the cached guest for the current recipe, building it first if needed."""
    packages = resolve_packages()
    key = recipe_key(packages)
    root = cache or cache_root()
    target = root / f"guest-{key}"
    root.mkdir(parents=True, exist_ok=True)
    with open(root / "guest.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a second build of the same key waits, then reuses
        if not (target / "initrd.img").exists():
            progress(f"guest: building {target.name} from {' '.join(packages)}")
            with tempfile.TemporaryDirectory(dir=root, prefix=".build-") as tmp:
                out = Path(tmp) / "out"
                result = subprocess.run(
                    [str(GUEST_DIR / "build-image.sh"), str(out), *packages],
                    capture_output=True,
                    text=True,
                )
                if result.returncode != 0:
                    raise GuestImageError(f"guest build failed:\n{result.stdout}{result.stderr}")
                shutil.rmtree(target, ignore_errors=True)
                out.rename(target)
        else:
            progress(f"guest: using cached {target}")
    return GuestImage(target / "vmlinuz", target / "initrd.img", packages, key)


def build_probe(dest: Path) -> Path:
    """Compile the probe for running on the host (tests, calibration)."""
    result = subprocess.run([str(GUEST_DIR / "probe" / "build.sh"), str(dest)], capture_output=True, text=True)
    if result.returncode != 0:
        raise GuestImageError(f"probe build failed:\n{result.stderr}")
    return dest


def _require_tools() -> None:
    missing = [tool for tool in BUILD_TOOLS if shutil.which(tool) is None]
    if missing:
        raise GuestImageError(f"missing {', '.join(missing)}: run 'bash bootstrap.sh' (installs them with apt)")


def _apt_cache(*args: str) -> str:
    result = subprocess.run(["apt-cache", *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise GuestImageError(f"apt-cache {' '.join(args)} failed: {result.stderr.strip()}; run 'apt-get update'")
    return result.stdout


def _candidate(package: str) -> str:
    for line in _apt_cache("policy", package).splitlines():
        if line.strip().startswith("Candidate:"):
            version = line.split(":", 1)[1].strip()
            if version and version != "(none)":
                return version
    raise GuestImageError(f"apt has no candidate for {package}: run 'apt-get update' and try again")
