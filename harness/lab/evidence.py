"""What a failed e2e run leaves behind for a human: cluster state, logs, consoles."""

from __future__ import annotations

import shutil
from pathlib import Path

from harness.config.facts import LIBVIRT, PATHS
from harness.host import network as host_network
from harness.lab.handle import Lab
from harness.lab.ssh import LabError

PER_NODE = {
    "crm_mon.xml": "sudo crm_mon -1 --output-as=xml",
    "cib.xml": "sudo cibadmin --query",
    "journal.txt": "sudo journalctl -b --no-pager -n 3000",
    "dmesg.txt": "sudo dmesg",
    "drbd.txt": "sudo drbdadm status 2>&1; cat /proc/drbd 2>&1",
    "fencing.txt": "sudo stonith_admin --history '*' 2>&1; sudo stonith_admin --list-registered 2>&1",
    "guest-console.log": f"sudo cat {PATHS.guest_console} 2>/dev/null",
    "qemu-guest.log": f"sudo cat {LIBVIRT.qemu_log} 2>/dev/null",
}


def collect(lab: Lab, dest: Path) -> Path:
    """Gather evidence from every node that answers; never raise for one that does not."""
    dest.mkdir(parents=True, exist_ok=True)
    for node in lab.config.nodes():
        folder = dest / node.name
        folder.mkdir(exist_ok=True)
        if node.name in lab.down:
            (folder / "DOWN.txt").write_text("powered off by the scenario when the evidence was collected\n")
            continue
        try:
            lab.ssh(node.name, "true")
        except LabError as err:  # one timeout per node, not one per command
            (folder / "UNREACHABLE.txt").write_text(f"{err}\n")
            continue
        for name, command in PER_NODE.items():
            try:
                (folder / name).write_text(lab.ssh(node.name, command))
            except LabError as err:
                (folder / name).write_text(f"unavailable: {err}\n")
    if lab.console_dir.exists():
        shutil.copytree(lab.console_dir, dest / "consoles", dirs_exist_ok=True)
    (dest / "host-domains.txt").write_text(host_network.virsh("list", "--all").stdout)
    if lab.logs.exists():
        shutil.copytree(lab.logs, dest / "lab-logs", dirs_exist_ok=True)
    return dest
