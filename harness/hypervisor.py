"""libvirt on the vnodes, through libvirt-python over Vagrant's SSH."""

from __future__ import annotations

from pathlib import Path

import libvirt

GUEST = "guest"


def ssh_settings(ssh_config: Path, node: str) -> dict[str, str]:
    """HostName, Port, User and IdentityFile of one node in `vagrant ssh-config` output."""
    settings: dict[str, str] = {}
    current = None
    for line in ssh_config.read_text().splitlines():
        words = line.split(None, 1)
        if len(words) != 2:
            continue
        key, value = words
        if key == "Host":
            current = value
        elif current == node and key in ("HostName", "Port", "User", "IdentityFile"):
            settings[key] = value.strip('"')
    if "HostName" not in settings:
        raise KeyError(f"{node} not in {ssh_config}")
    return settings


def connect(ssh_config: Path, node: str) -> libvirt.virConnect:
    s = ssh_settings(ssh_config, node)
    uri = (
        f"qemu+ssh://{s.get('User', 'vagrant')}@{s['HostName']}:{s.get('Port', '22')}/system"
        f"?keyfile={s['IdentityFile']}&no_verify=1&no_tty=1"
    )
    return libvirt.open(uri)


def guest_state(conn: libvirt.virConnect) -> str | None:
    """The guest's state here ("running", "paused", …), or None where it is not defined."""
    try:
        domain = conn.lookupByName(GUEST)
    except libvirt.libvirtError:
        return None
    state, _reason = domain.state()
    names = {
        libvirt.VIR_DOMAIN_RUNNING: "running",
        libvirt.VIR_DOMAIN_PAUSED: "paused",
        libvirt.VIR_DOMAIN_SHUTOFF: "shutoff",
        libvirt.VIR_DOMAIN_CRASHED: "crashed",
    }
    return names.get(state, f"state {state}")
