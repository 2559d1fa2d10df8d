"""What a new lab needs from the host, checked before anything is made: its UDP ports free,
and enough free disk and memory for four nodes. (Names and subnets: host/network.check_free.)"""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

from harness.config.lab import NODES, LabConfig, LabConfigError

IMAGES = Path("/var/lib/libvirt/images")  # libvirt's default pool: the nodes' disks
DISK_NEEDED_GIB = 12  # four node disks grown by provisioning, two DRBD disks, the box
MEMORY_MARGIN_MIB = 1024  # QEMU's own overhead per node and the harness


def udp_port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


def available_memory_mib(meminfo: Path = Path("/proc/meminfo")) -> int:
    for line in meminfo.read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) // 1024
    raise LabConfigError(f"{meminfo} has no MemAvailable line")


def check(
    config: LabConfig, images: Path = IMAGES, meminfo: Path = Path("/proc/meminfo"), disk_gib: int = DISK_NEEDED_GIB
) -> None:
    """Refuse a new lab the host cannot hold, naming what to change; nothing is changed."""
    ports = {"observer_port": config.observer_port} | {
        f"fence_port{'' if role == 'hv' else ' + 1'}": port for role, port in config.fence_ports.items()
    }
    for what, port in ports.items():
        if not udp_port_free(port):
            key = what.split()[0]
            raise LabConfigError(f"UDP port {port} ({what}) is taken on this host: set another {key} in lab.toml")
    where = images if images.exists() else next(p for p in images.parents if p.exists())
    free_gib = shutil.disk_usage(where).free / 2**30
    if free_gib < disk_gib:
        raise LabConfigError(
            f"{where} has {free_gib:.1f} GiB free; a lab needs about {disk_gib} GiB: free some, "
            "or remove old labs with 'ha-lab destroy'"
        )
    needed = sum(n.memory_mib for n in NODES) + MEMORY_MARGIN_MIB
    available = available_memory_mib(meminfo)
    if available < needed:
        raise LabConfigError(
            f"{available} MiB of memory available; a lab needs about {needed} MiB: stop other VMs or labs"
        )
