"""The lab's nodes as libvirt sees them.

Whether a node runs is libvirt's to say, not Vagrant's: vagrant-libvirt calls a running node
"inaccessible" while its management network holds no DHCP lease for it, as right after a
restore re-defined that network.
"""

from __future__ import annotations

import libvirt

from harness.config.lab import LabConfig
from harness.errors import HarnessError

URI = "qemu:///system"
NOT_CREATED = "not created"
NAMES = {
    libvirt.VIR_DOMAIN_RUNNING: "running",
    libvirt.VIR_DOMAIN_PAUSED: "paused",
    libvirt.VIR_DOMAIN_SHUTOFF: "shut off",
    libvirt.VIR_DOMAIN_SHUTDOWN: "shutting down",
    libvirt.VIR_DOMAIN_CRASHED: "crashed",
    libvirt.VIR_DOMAIN_PMSUSPENDED: "suspended",
    libvirt.VIR_DOMAIN_BLOCKED: "running",  # blocked on a resource, still running
}


def states(config: LabConfig) -> dict[str, str]:
    """Each node's state ("running", "paused", "shut off", …, or "not created")."""
    try:
        conn = libvirt.open(URI)
    except libvirt.libvirtError as err:
        raise HarnessError(f"cannot reach libvirt at {URI} ({err}): run 'ha-lab doctor --fix'") from err
    try:
        found = {}
        for node in config.nodes():
            try:
                state = conn.lookupByName(f"{config.domain_prefix}{node.name}").state()[0]
            except libvirt.libvirtError:
                found[node.name] = NOT_CREATED
                continue
            found[node.name] = NAMES.get(state, "unknown")
        return found
    finally:
        conn.close()
