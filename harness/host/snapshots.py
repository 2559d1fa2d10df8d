"""Whole-lab snapshots: one consistent cut of the four nodes, and the way back to it.

All four are paused before any is saved and resumed only once all are back, so the nodes
never see each other move on: DRBD's generations, corosync's membership and the NFS
client's session come back as they were at one instant.

A snapshot is a folder: each node's memory as libvirt saved it (`virDomainSave` of a paused
domain, which libvirt restores paused), and each node's disks as they were, frozen. No disk
is copied: the node's top qcow2 file is moved into the folder and the node goes on in a new,
empty overlay on top of it at the old path. Going back puts a fresh overlay on the frozen
files and restores the saved memory. Libvirt 9.0 (Debian 12) cannot revert to its own
external snapshots, and internal ones live inside the lab's disks and die with them; a
folder outlives the lab, so a provisioned lab can be kept for the next one.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import libvirt

from harness.config.lab import LabConfig
from harness.errors import HarnessError
from harness.host.domains import connection
from harness.host.ssh_config import ssh_settings

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,39}")
MANIFEST = "snapshot.json"


class SnapshotError(HarnessError):
    """A snapshot that cannot be taken or gone back to; the message says what to do."""


def snapshot_root() -> Path:
    """Where snapshots live: QEMU (as libvirt's qemu user) reads the frozen disks from there, so
    not under a home folder. $HA_LAB_SNAPSHOTS, else beside libvirt's images."""
    return Path(os.environ.get("HA_LAB_SNAPSHOTS") or "/var/lib/libvirt/ha-lab")


def lab_folder(config: LabConfig) -> Path:
    """The folder of a lab's named snapshots (removed with the lab)."""
    return snapshot_root() / "labs" / config.name


def check_name(name: str) -> str:
    if not NAME.fullmatch(name):
        raise SnapshotError(
            f"snapshot name {name!r}: use 1-40 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    return name


@dataclass(frozen=True)
class Snapshot:
    name: str
    folder: Path
    created: float  # seconds since the epoch
    nodes: tuple[str, ...]
    disks: dict[str, dict[str, str]]  # node: {the lab's disk path: its frozen file}
    owner: str

    @classmethod
    def read(cls, folder: Path) -> Snapshot:
        try:
            made = json.loads((folder / MANIFEST).read_text())
        except (OSError, ValueError) as err:
            raise SnapshotError(f"{folder}: not a snapshot ({err}); remove the folder") from err
        return cls(made["name"], folder, made["created"], tuple(made["nodes"]), made["disks"], made.get("owner", ""))

    def write(self) -> None:
        record = {"name": self.name, "created": self.created, "nodes": list(self.nodes)}
        (self.folder / MANIFEST).write_text(json.dumps({**record, "disks": self.disks, "owner": self.owner}, indent=2))

    def memory(self, node: str) -> Path:
        return self.folder / f"{node}.save"


def _domains(conn: libvirt.virConnect, config: LabConfig) -> dict[str, libvirt.virDomain]:
    found, missing = {}, []
    for node in config.nodes():
        try:
            found[node.name] = conn.lookupByName(f"{config.domain_prefix}{node.name}")
        except libvirt.libvirtError:
            missing.append(node.name)
    if missing:
        raise SnapshotError(f"lab {config.name} has no domain for {', '.join(missing)}: run 'ha-lab up' first")
    return found


def disk_files(domain_xml: str) -> list[str]:
    """The files of a domain's writable disks (not CD-ROMs, not shared or read-only ones)."""
    files = []
    for disk in ET.fromstring(domain_xml).iterfind("devices/disk"):
        source = disk.find("source")
        if disk.get("device", "disk") != "disk" or disk.get("type") != "file" or source is None:
            continue
        if disk.find("readonly") is not None or disk.find("shareable") is not None:
            continue
        files.append(source.get("file", ""))
    return [f for f in files if f]


def overlay(frozen: Path, path: Path) -> None:
    """A new, empty qcow2 at `path` on top of `frozen`. Root's and private: libvirt hands each
    file of the chain to its qemu user when the node starts (and back when it stops)."""
    path.unlink(missing_ok=True)
    done = subprocess.run(
        ["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", str(frozen), str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SnapshotError(f"qemu-img could not make {path} on {frozen}: {done.stderr.strip()}")
    path.chmod(0o600)


def _freeze(path: Path, frozen: Path) -> None:
    """Move a stopped node's disk into the snapshot and leave an overlay in its place."""
    try:
        os.rename(path, frozen)
    except OSError:  # another filesystem: the one copy there is no way around
        shutil.copy2(path, frozen)
        path.unlink()
    frozen.chmod(0o400)  # never written again (every later state is an overlay); it holds the node's secrets
    overlay(frozen, path)


def _private(folder: Path) -> None:
    """The folders from the root to `folder`: libvirt's qemu user reaches the frozen disks,
    nobody else lists them."""
    root = snapshot_root()
    for made in [folder, *folder.parents]:
        made.chmod(0o711)
        if made == root:
            return
    raise AssertionError(f"{folder} is not under {root}")  # take() checked it


def _pause_all(domains: dict[str, libvirt.virDomain]) -> None:
    for dom in domains.values():
        if dom.state()[0] == libvirt.VIR_DOMAIN_RUNNING:
            dom.suspend()


def without_backing_chains(xml: str) -> str | None:
    """The domain XML with each disk's <backingStore> taken out (None: there was none). A saved
    domain's XML describes its disks' chains as they were when it was saved, and libvirt opens
    exactly that chain: an overlay put under a disk since then would be skipped, and the node
    would read the layer below (on the lab of 2026-12-03 the DRBD disks read zeros and ext4
    found its group descriptors corrupted). Without it libvirt reads the chain from the images."""
    root = ET.fromstring(xml)
    found = False
    for disk in root.iterfind("devices/disk"):
        for backing in disk.findall("backingStore"):
            disk.remove(backing)
            found = True
    return ET.tostring(root, encoding="unicode") if found else None


def chain_problems(live_xml: str, frozen: dict[str, str]) -> list[str]:
    """Disks of a restored domain that do not stand on their frozen file (`frozen`: disk path to
    frozen file). A driver that reports no chain at all (libvirt's test driver) is not judged."""
    found = []
    for disk in ET.fromstring(live_xml).iterfind("devices/disk"):
        source, backing = disk.find("source"), disk.find("backingStore")
        path = source.get("file", "") if source is not None else ""
        if path not in frozen or backing is None:
            continue
        below = backing.find("source")
        under = below.get("file", "") if below is not None else ""
        if under != frozen[path]:
            found.append(f"{path} stands on {under or 'nothing'}, not on {frozen[path]}")
    return found


def _restore_all(conn: libvirt.virConnect, snap: Snapshot, domains: dict[str, libvirt.virDomain]) -> None:
    """Restore every node paused (a save of a paused domain comes back paused), check that each
    disk stands on its frozen file, then resume all: none runs while another is still loading."""
    for node in snap.nodes:
        saved = str(snap.memory(node))
        try:
            xml = conn.saveImageGetXMLDesc(saved, libvirt.VIR_DOMAIN_SAVE_IMAGE_XML_SECURE)
            conn.restoreFlags(saved, without_backing_chains(xml), 0)
        except libvirt.libvirtError as err:
            for dom in domains.values():
                if dom.isActive():
                    dom.destroy()  # never half a lab running: its peers would fence the missing node
            raise SnapshotError(
                f"restoring {node} from {saved} failed, the lab is stopped ({err}); its disks are intact: "
                "'ha-lab destroy' then 'ha-lab up' makes it again"
            ) from err
        dom = domains[node]
        if dom.state()[0] == libvirt.VIR_DOMAIN_RUNNING:  # a driver that ignores the saved state
            dom.suspend()
    wrong = [f"{node}: {p}" for node in snap.nodes for p in chain_problems(domains[node].XMLDesc(0), snap.disks[node])]
    if wrong:
        for dom in domains.values():
            dom.destroy()  # paused, never resumed on a wrong disk
        raise SnapshotError(f"restored nodes on the wrong disks, stopped before they ran: {'; '.join(wrong)}")
    for node in snap.nodes:
        domains[node].resume()


def listing(config: LabConfig) -> list[Snapshot]:
    """The lab's named snapshots, oldest first."""
    folder = lab_folder(config)
    found = [Snapshot.read(f) for f in folder.iterdir() if (f / MANIFEST).exists()] if folder.exists() else []
    return sorted(found, key=lambda s: s.created)


def find(config: LabConfig, name: str) -> Snapshot:
    folder = lab_folder(config) / check_name(name)
    if not (folder / MANIFEST).exists():
        raise SnapshotError(f"lab {config.name} has no snapshot {name!r}: 'ha-lab snapshots' lists them")
    return Snapshot.read(folder)


def take(config: LabConfig, folder: Path, progress: Callable[[str], None] = print) -> dict[str, float]:
    """Save the running lab into `folder` (which must not exist): all nodes paused, each one's
    memory saved, its disks frozen, all restored and resumed. The seconds each step took."""
    if snapshot_root() not in folder.parents:
        raise SnapshotError(f"{folder}: snapshots live under {snapshot_root()} ($HA_LAB_SNAPSHOTS)")
    if folder.exists():
        raise SnapshotError(f"{folder} exists: pick another name, or remove it with 'ha-lab snapshot --delete'")
    steps: dict[str, float] = {}
    with connection() as conn:
        domains = _domains(conn, config)
        stopped = [node for node, dom in domains.items() if dom.state()[0] != libvirt.VIR_DOMAIN_RUNNING]
        if stopped:
            raise SnapshotError(
                f"not running: {', '.join(stopped)}; a snapshot is a cut of a running lab (see 'ha-lab status')"
            )
        disks = {node: disk_files(dom.XMLDesc(0)) for node, dom in domains.items()}
        folder.mkdir(parents=True)
        _private(folder)
        snap = Snapshot(folder.name, folder, time.time(), tuple(domains), {}, config.owner)
        started = time.monotonic()
        _pause_all(domains)
        steps["pause"] = round(time.monotonic() - started, 2)
        saved: list[str] = []
        try:
            for node, dom in domains.items():
                started = time.monotonic()
                progress(f"lab: saving {node} ...")
                dom.save(str(snap.memory(node)))
                saved.append(node)
                steps[f"save {node}"] = round(time.monotonic() - started, 2)
        except libvirt.libvirtError as err:
            # Back as it was: the saved nodes restored from their files, the rest resumed.
            for node in saved:
                conn.restore(str(snap.memory(node)))
            for dom in domains.values():
                if dom.state()[0] == libvirt.VIR_DOMAIN_PAUSED:
                    dom.resume()
            shutil.rmtree(folder)
            raise SnapshotError(f"saving {node} failed ({err}); the lab runs on, nothing was kept") from err
        started = time.monotonic()
        frozen: dict[str, dict[str, str]] = {}
        for node, paths in disks.items():
            frozen[node] = {}
            for index, path in enumerate(paths):
                target = folder / f"{node}-{index}.qcow2"
                _freeze(Path(path), target)
                frozen[node][path] = str(target)
        snap = Snapshot(snap.name, folder, snap.created, snap.nodes, frozen, snap.owner)
        snap.write()
        steps["freeze disks"] = round(time.monotonic() - started, 2)
        started = time.monotonic()
        progress("lab: restoring all nodes paused, then resuming them together ...")
        _restore_all(conn, snap, domains)
        steps["restore"] = round(time.monotonic() - started, 2)
    return steps


def revert(config: LabConfig, snap: Snapshot, progress: Callable[[str], None] = print) -> dict[str, float]:
    """Bring every node back to `snap`: stopped, its disks fresh overlays on the frozen files, its
    memory restored paused; then all resumed together. The seconds each step took."""
    steps: dict[str, float] = {}
    with connection() as conn:
        domains = _domains(conn, config)
        missing = [str(snap.memory(n)) for n in snap.nodes if not snap.memory(n).exists()]
        missing += [f for disks in snap.disks.values() for f in disks.values() if not Path(f).exists()]
        if missing or sorted(snap.nodes) != sorted(domains):
            raise SnapshotError(
                f"snapshot {snap.folder} is incomplete ({', '.join(missing) or 'other nodes'}): remove it with "
                f"'ha-lab snapshot --delete {snap.name}'"
            )
        started = time.monotonic()
        _pause_all(domains)
        for dom in domains.values():
            if dom.isActive():
                dom.destroy()
        for disks in snap.disks.values():
            for path, frozen in disks.items():
                overlay(Path(frozen), Path(path))
        for pool in conn.listAllStoragePools(libvirt.VIR_CONNECT_LIST_STORAGE_POOLS_ACTIVE):
            pool.refresh()  # the overlays are the domains' volumes: Vagrant deletes them by name
        steps["stop and fresh disks"] = round(time.monotonic() - started, 2)
        started = time.monotonic()
        progress("lab: restoring all nodes paused, then resuming them together ...")
        try:
            _restore_all(conn, snap, domains)
        except libvirt.libvirtError as err:
            raise SnapshotError(
                f"restoring the lab from {snap.folder} failed ({err}); the lab is stopped part-way: "
                "'ha-lab destroy', then 'ha-lab up --fresh' (and 'ha-lab prune' for a kept lab that cannot come back)"
            ) from err
        steps["restore"] = round(time.monotonic() - started, 2)
    return steps


def _chain(path: Path) -> list[str]:
    """Every file under `path` in its qcow2 backing chain."""
    done = subprocess.run(
        ["qemu-img", "info", "-U", "--backing-chain", "--output=json", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        return []
    return [layer.get("backing-filename", "") for layer in json.loads(done.stdout) if layer.get("backing-filename")]


def users(snap: Snapshot, disks: list[Path]) -> list[str]:
    """Those of `disks` that stand on one of the snapshot's frozen files."""
    frozen = {f for files in snap.disks.values() for f in files.values()}
    return [str(d) for d in disks if d.exists() and frozen & set(_chain(d))]


def delete(config: LabConfig, snap: Snapshot) -> None:
    """Remove a snapshot no disk stands on (the lab's, or a later snapshot's)."""
    standing = [Path(p) for files in snap.disks.values() for p in files]  # the lab's disks
    for other in listing(config):
        if other.folder != snap.folder:
            standing += [Path(f) for files in other.disks.values() for f in files.values()]
    used = users(snap, standing)
    if used:
        raise SnapshotError(
            f"snapshot {snap.name!r} holds the frozen disks under {', '.join(used)}: revert to an older "
            f"snapshot or destroy the lab first"
        )
    shutil.rmtree(snap.folder)


def save_definitions(config: LabConfig, folder: Path) -> None:
    """The lab's libvirt networks and domains as defined, so a lab can be made again from the
    snapshot on a host that no longer has them."""
    with connection() as conn:
        for kind, name in config.network_names.items():
            xml = conn.networkLookupByName(name).XMLDesc(0)
            (folder / f"network-{kind}.xml").write_text(xml)
        for node, dom in _domains(conn, config).items():
            xml = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE | libvirt.VIR_DOMAIN_XML_SECURE)
            written = folder / f"domain-{node}.xml"
            written.write_text(xml)
            written.chmod(0o600)


def management_macs(config: LabConfig, folder: Path) -> dict[str, str]:
    """Each node's MAC address on the management network, from the domains saved in `folder`."""
    macs = {}
    for node in config.nodes():
        root = ET.fromstring((folder / f"domain-{node.name}.xml").read_text())
        for iface in root.iter("interface"):
            source, mac = iface.find("source"), iface.find("mac")
            if source is not None and mac is not None and source.get("network") == config.network_names["mgmt"]:
                macs[node.name] = mac.get("address", "")
    return macs


def pin_addresses(network_xml: str, hosts: dict[str, tuple[str, str]]) -> str:
    """The network's DHCP hands each node (name: (mac, ip)) that address and no other."""
    root = ET.fromstring(network_xml)
    dhcp = root.find("ip/dhcp")
    if dhcp is None:
        raise SnapshotError("the kept management network has no DHCP: run 'ha-lab prune --all', then 'ha-lab up'")
    for old in dhcp.findall("host"):
        dhcp.remove(old)
    for name, (mac, ip) in sorted(hosts.items()):
        ET.SubElement(dhcp, "host", {"mac": mac, "name": name, "ip": ip})
    return ET.tostring(root, encoding="unicode")


def _kept_addresses(config: LabConfig) -> dict[str, str]:
    """Each node's management address as the lab's SSH config names it, where it names one."""
    known = config.state_dir / "ssh_config"
    addresses = {}
    for node in config.nodes() if known.exists() else []:
        with contextlib.suppress(KeyError):
            addresses[node.name] = ssh_settings(known, node.name)["HostName"]
    return addresses


def define(config: LabConfig, folder: Path) -> list[str]:
    """Define (and start) the lab's networks and define its domains from `folder`, where libvirt
    does not have them; what was made. Where the lab's SSH config is there already (restored with
    the kept state), the management network gives each node the address it names, again: a
    restored node whose lease ran out while it was kept asks for one anew, and a network defined
    anew knows no leases. Without the pin, hours after the keep, each node got another address
    and the harness reached none of them at the one it was kept with."""
    made = []
    addresses = _kept_addresses(config)
    macs = management_macs(config, folder) if addresses else {}
    pins = {node: (macs[node], ip) for node, ip in addresses.items() if node in macs}
    with connection() as conn:
        for kind, name in config.network_names.items():
            try:
                net = conn.networkLookupByName(name)
            except libvirt.libvirtError:
                xml = (folder / f"network-{kind}.xml").read_text()
                if kind == "mgmt" and pins:
                    xml = pin_addresses(xml, pins)
                net = conn.networkDefineXML(xml)
                made.append(f"network {name}")
            if not net.isActive():
                try:
                    net.create()
                except libvirt.libvirtError as err:
                    raise SnapshotError(f"libvirt network {name} does not start ({err}): see 'ha-lab doctor'") from err
        for node in config.nodes():
            try:
                conn.lookupByName(f"{config.domain_prefix}{node.name}")
            except libvirt.libvirtError:
                conn.defineXML((folder / f"domain-{node.name}.xml").read_text())
                made.append(f"domain {config.domain_prefix}{node.name}")
    return made


def lab_disks() -> list[Path]:
    """The disk files of every domain libvirt has on this host (any lab's)."""
    with connection() as conn:
        return [Path(f) for dom in conn.listAllDomains() for f in disk_files(dom.XMLDesc(0))]
