"""Reading an OpenSSH client config as `vagrant ssh-config` writes it: one block per node."""

from __future__ import annotations

from pathlib import Path


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
