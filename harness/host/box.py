"""The lab's Vagrant box: built locally from Debian packages, cached by a hash of its recipe."""

from __future__ import annotations

import fcntl
import hashlib
import os
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness.config.lab import REPO
from harness.errors import HarnessError
from harness.host.guest_image import cache_root

BOX_DIR = REPO / "provision" / "host" / "box"
RECIPE = ["build-box.sh", "customize.sh", "packages", "vagrant.pub"]


class BoxError(HarnessError):
    """The box cannot be built or added; the message says what to do."""


@dataclass(frozen=True)
class Box:
    name: str
    path: Path  # the .box file
    built_s: float | None  # None: taken from the cache
    size_bytes: int


def recipe_key() -> str:
    digest = hashlib.sha256()
    for name in RECIPE:
        digest.update(name.encode() + b"\0" + (BOX_DIR / name).read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def vagrant_env() -> dict[str, str]:
    """The environment every Vagrant call of the lab runs with."""
    return {**os.environ, "VAGRANT_HOME": str(cache_root() / "vagrant.d"), "VAGRANT_DEFAULT_PROVIDER": "libvirt"}


def box_known(name: str) -> bool:
    # Away from the repository: Vagrant would load its Vagrantfile, which wants a lab.
    listing = subprocess.run(
        ["vagrant", "box", "list"], capture_output=True, text=True, env=vagrant_env(), cwd=cache_root()
    )
    return any(line.split()[0] == name for line in listing.stdout.splitlines() if line.strip())


def ensure_box(log: Path, progress: Callable[[str], None] = print) -> Box:
    """Build the box for the current recipe if it is not cached, and add it to Vagrant."""
    key = recipe_key()
    name = f"halab-debian12-{key}"
    root = cache_root()
    box_file = root / f"{name}.box"
    root.mkdir(parents=True, exist_ok=True)
    built_s = None
    with open(root / "box.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not box_file.exists():
            if os.geteuid() != 0:
                raise BoxError("building the box needs root (loop devices, mount): run as root")
            progress(f"box: building {name} (about 4 minutes; log in {log})")
            started = time.monotonic()
            with tempfile.TemporaryDirectory(dir=root, prefix=".box-") as tmp, open(log, "a") as out:
                result = subprocess.run(
                    [str(BOX_DIR / "build-box.sh"), f"{tmp}/out"], stdout=out, stderr=subprocess.STDOUT
                )
                if result.returncode != 0:
                    raise BoxError(f"box build failed (exit {result.returncode}); see {log}")
                partial = Path(tmp) / "box.partial"
                with tarfile.open(partial, "w") as tar:
                    for member in ("metadata.json", "Vagrantfile", "box.img"):
                        tar.add(Path(tmp) / "out" / member, arcname=member)
                partial.rename(box_file)
            built_s = time.monotonic() - started
            progress(f"box: built in {built_s:.0f} s, {box_file.stat().st_size / 2**20:.0f} MiB")
        if not box_known(name):
            progress(f"box: adding {name} to Vagrant")
            result = subprocess.run(
                ["vagrant", "box", "add", "--force", "--name", name, str(box_file)],
                capture_output=True,
                text=True,
                env=vagrant_env(),
                cwd=root,
            )
            if result.returncode != 0:
                raise BoxError(f"vagrant box add failed: {result.stderr.strip() or result.stdout.strip()}")
    return Box(name, box_file, built_s, box_file.stat().st_size)
