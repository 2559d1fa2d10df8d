"""The provisioned lab, kept: a snapshot taken right after a bring-up, keyed by what made it,
that the next bring-up of the same lab restores instead of provisioning again.

The key covers lab.json as this code renders it (lab name, subnet, accelerator, box, timings,
facts), the guest image and the provisioning's own files: a change to any of them makes a
new one. Beside the snapshot the entry keeps the lab's libvirt definitions and the state
folder's files (keys, cluster files, Vagrant's machine records), so a restored lab is the
same lab, down to its secrets.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tarfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness.config.lab import REPO, LabConfig
from harness.host import snapshots
from harness.host.guest_image import GuestImage

# What provisioning runs or renders, besides lab.json and the guest image.
RECIPE = (
    REPO / "provision",
    REPO / "harness" / "lab" / "provision.py",
    REPO / "harness" / "host" / "cluster_files.py",
    Path(__file__),  # what an entry holds: a change here makes older entries unusable
)
# Of the state folder, what the restored lab needs. ssh_config too: Vagrant learns the nodes'
# addresses from the management network's DHCP leases, which a network defined anew has not
# got (the restored nodes keep their leases and never ask again): "not yet ready for SSH".
# known_hosts: a restored node does not boot, so it prints no host keys; the kept ones are its own.
STATE = ("lab.json", "secrets", "cluster", "vagrant", "ssh_config", "known_hosts")
DONE = "complete.json"  # written last: an entry without it was cut short and is not used


def recipe_key(lab_json: Path, image: GuestImage) -> str:
    digest = hashlib.sha256(lab_json.read_bytes() + b"\0" + image.key.encode() + b"\0")
    for root in RECIPE:
        files = sorted(p for p in (root.rglob("*") if root.is_dir() else [root]) if p.is_file())
        for path in files:
            if "__pycache__" in path.parts:
                continue
            digest.update(str(path.relative_to(REPO)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def root() -> Path:
    return snapshots.snapshot_root() / "provisioned"


@dataclass(frozen=True)
class Entry:
    key: str

    @property
    def folder(self) -> Path:
        return root() / self.key

    @property
    def snapshot_folder(self) -> Path:
        return self.folder / "lab"

    @property
    def complete(self) -> bool:
        return (self.folder / DONE).exists()

    def snapshot(self) -> snapshots.Snapshot:
        return snapshots.Snapshot.read(self.snapshot_folder)

    def record(self) -> dict[str, object]:
        return json.loads((self.folder / DONE).read_text()) if self.complete else {}


def keep(state_dir: Path, config: LabConfig, entry: Entry, progress: Callable[[str], None]) -> dict[str, float]:
    """Snapshot the freshly provisioned, running lab into the entry; the seconds each step took.
    The lab runs on, on top of it."""
    if entry.folder.exists():
        shutil.rmtree(entry.folder)  # cut short before: made again
    steps = snapshots.take(config, entry.snapshot_folder, progress)
    snapshots.save_definitions(config, entry.folder)
    pack_state(state_dir, entry.folder / "state.tar")
    done = {"key": entry.key, "lab": config.name, "made": time.time(), "steps": steps}
    (entry.folder / DONE).write_text(json.dumps(done, indent=2))
    return steps


def pack_state(state_dir: Path, archive: Path) -> None:
    """The lab's state files (STATE) into `archive`, readable only by this user: keys and passwords."""
    with tarfile.open(archive, "w") as tar:
        for name in STATE:
            if (state_dir / name).exists():
                tar.add(state_dir / name, arcname=name)
    archive.chmod(0o600)


def _keep_folder_modes(member: tarfile.TarInfo, dest: str) -> tarfile.TarInfo | None:
    # The "data" filter makes folders with the umask's mode: secrets/ would come back 0755.
    safe = tarfile.data_filter(member, dest)
    if safe is not None and member.isdir():
        return safe.replace(mode=member.mode & 0o755, deep=False)
    return safe


def unpack_state(archive: Path, state_dir: Path) -> None:
    with tarfile.open(archive) as tar:
        tar.extractall(state_dir, filter=_keep_folder_modes)


def restore(state_dir: Path, config: LabConfig, entry: Entry, progress: Callable[[str], None]) -> dict[str, float]:
    """Make the lab again from the entry: its state files, networks and domains, each node's disks
    and memory; the seconds each step took. Clocks, fencing and the lab's wholeness are the caller's."""
    started = time.monotonic()
    unpack_state(entry.folder / "state.tar", state_dir)
    made = snapshots.define(config, entry.folder)
    progress(f"lab: defined {', '.join(made) or 'nothing (all there)'}")
    steps: dict[str, float] = {"define": round(time.monotonic() - started, 2)}
    return steps | snapshots.revert(config, entry.snapshot(), progress)


def entries() -> list[Entry]:
    if not root().exists():
        return []
    return sorted((Entry(p.name) for p in root().iterdir() if p.is_dir()), key=lambda e: e.key)


def newest_of_each_lab() -> Callable[[str], bool]:
    """Whether an entry is the newest complete one of its lab: older ones were made by an older
    recipe (the key changed), and a bring-up would not restore them."""
    newest: dict[str, tuple[float, str]] = {}
    for entry in entries():
        record = entry.record()
        if record and float(record["made"]) > newest.get(str(record["lab"]), (0.0, ""))[0]:
            newest[str(record["lab"])] = (float(record["made"]), entry.key)
    return {key for _, key in newest.values()}.__contains__


def _frozen(entry: Entry) -> list[Path]:
    if not entry.complete:
        return []
    return [Path(f) for files in entry.snapshot().disks.values() for f in files.values()]


def prune(keep: Callable[[str], bool]) -> list[str]:
    """Remove every entry whose key `keep` does not want and that no domain's disk, nor another
    entry's frozen disk, stands on; what was removed."""
    disks = snapshots.lab_disks()
    left = entries()
    removed: list[str] = []
    while True:
        for entry in left:
            if keep(entry.key):
                continue
            others = [f for other in left if other != entry for f in _frozen(other)]
            if entry.complete and snapshots.users(entry.snapshot(), disks + others):
                continue
            shutil.rmtree(entry.folder)
            removed.append(str(entry.folder))
            left.remove(entry)
            break  # what stands on what changed: look again
        else:
            return removed
