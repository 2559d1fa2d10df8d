"""The lab's nodes as libvirt sees them.

Whether a node runs is libvirt's to say, not Vagrant's: vagrant-libvirt calls a running node
"inaccessible" while its management network holds no DHCP lease for it, as right after a
restore re-defined that network.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

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


@contextmanager
def connection() -> Iterator[libvirt.virConnect]:
    """The host's libvirt, closed after use; out of reach, an error that says what to do."""
    try:
        conn = libvirt.open(URI)
    except libvirt.libvirtError as err:
        raise HarnessError(f"cannot reach libvirt at {URI} ({err}): run 'ha-lab doctor --fix'") from err
    try:
        yield conn
    finally:
        conn.close()


def states(config: LabConfig) -> dict[str, str]:
    """Each node's state ("running", "paused", "shut off", …, or "not created")."""
    found = {}
    with connection() as conn:
        for node in config.nodes():
            try:
                state = conn.lookupByName(f"{config.domain_prefix}{node.name}").state()[0]
            except libvirt.libvirtError:
                found[node.name] = NOT_CREATED
                continue
            found[node.name] = NAMES.get(state, "unknown")
    return found
