"""What libvirt on this host already holds: a new lab must not collide with it,
and a destroyed lab must leave none of its own behind."""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
import xml.etree.ElementTree as ET

from harness.config.lab import LabConfig, LabConfigError

URI = "qemu:///system"


def virsh(*args: str) -> subprocess.CompletedProcess[str]:
    """One virsh call against the system libvirt; the caller judges the result. LC_ALL=C: the
    output is parsed, so it must not be translated."""
    env = {**os.environ, "LC_ALL": "C"}
    return subprocess.run(["virsh", "-c", URI, *args], capture_output=True, text=True, check=False, env=env)


def bridge_of(network: str) -> str:
    """The host bridge of a libvirt network (fence_virtd listens on the lab's)."""
    done = virsh("net-info", network)
    for line in done.stdout.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "Bridge" and value.strip():
            return value.strip()
    raise LabConfigError(f"libvirt network {network} has no bridge ({done.stderr.strip()}): is the lab up?")


def _names(*args: str) -> list[str]:
    return [line.strip() for line in virsh(*args).stdout.splitlines() if line.strip()]


def network_ranges() -> dict[str, list[ipaddress.IPv4Network]]:
    ranges: dict[str, list[ipaddress.IPv4Network]] = {}
    for name in _names("net-list", "--all", "--name"):
        root = ET.fromstring(virsh("net-dumpxml", name).stdout or "<network/>")
        nets = []
        for ip in root.iter("ip"):
            address, mask = ip.get("address"), ip.get("netmask") or ip.get("prefix")
            if address and mask and ip.get("family", "ipv4") == "ipv4":
                nets.append(ipaddress.IPv4Network(f"{address}/{mask}", strict=False))
        ranges[name] = nets
    return ranges


def host_addresses() -> list[ipaddress.IPv4Interface]:
    result = subprocess.run(["ip", "-j", "-4", "addr"], capture_output=True, text=True, check=False)
    found = []
    for link in json.loads(result.stdout or "[]"):
        for addr in link.get("addr_info", []):
            found.append(ipaddress.IPv4Interface(f"{addr['local']}/{addr['prefixlen']}"))
    return found


def check_free(config: LabConfig) -> None:
    """Refuse a new lab whose name or subnets are in use; nothing is changed."""
    ours = set(config.network_names.values())
    taken = [d for d in _names("list", "--all", "--name") if d.startswith(config.domain_prefix)]
    taken += [n for n in _names("net-list", "--all", "--name") if n in ours]
    if taken:
        raise LabConfigError(
            f"lab name {config.name!r} is taken on this host ({', '.join(taken)}): set another name in "
            f"lab.toml, or remove the old lab with 'ha-lab destroy --name {config.name}'"
        )
    wanted = [config.lab_net, config.replication_net, config.management_net]
    for name, nets in network_ranges().items():
        for net in nets:
            for mine in wanted:
                if net.overlaps(mine):
                    raise LabConfigError(
                        f"subnet {mine} is used by libvirt network {name!r} ({net}): set another subnet in lab.toml"
                    )
    for address in host_addresses():
        for mine in wanted:
            if address.network.overlaps(mine):
                raise LabConfigError(f"subnet {mine} overlaps host address {address}: set another subnet in lab.toml")


def not_ours(config: LabConfig, descriptions: dict[str, str]) -> dict[str, str]:
    """Of the lab's domains (name: libvirt description), those another state folder made, or that
    carry no mark (made before domains were marked): whose they are, as far as libvirt says."""
    return {
        domain: (text.strip() or "no owner mark")
        for domain, text in descriptions.items()
        if text.strip() != config.owner
    }


def description(domain: str) -> str:
    root = ET.fromstring(virsh("dumpxml", domain).stdout or "<domain/>")
    return root.findtext("description") or ""


def refuse_foreign(config: LabConfig) -> None:
    """Refuse, before anything is changed, a lab whose domains another state folder made."""
    domains = [d for d in _names("list", "--all", "--name") if d.startswith(config.domain_prefix)]
    foreign = not_ours(config, {d: description(d) for d in domains})
    if foreign:
        listed = "; ".join(f"{d}: {owner}" for d, owner in sorted(foreign.items()))
        raise LabConfigError(
            f"lab {config.name!r}: not made from {config.state_dir} ({listed}); destroy it from the state "
            f"folder that made it (HA_LAB_STATE), or add --force to remove it anyway"
        )


def sweep(config: LabConfig) -> list[str]:
    """Remove every domain, volume and network of this lab that libvirt still has."""
    removed = []
    for domain in _names("list", "--all", "--name"):
        if domain.startswith(config.domain_prefix):
            virsh("destroy", domain)
            virsh("undefine", domain, "--remove-all-storage")
            removed.append(f"domain {domain}")
    for volume in _names("vol-list", "default", "--name") if "default" in _names("pool-list", "--name") else []:
        if volume.startswith(config.domain_prefix):
            virsh("vol-delete", volume, "--pool", "default")
            removed.append(f"volume {volume}")
    for network in config.network_names.values():
        if network in _names("net-list", "--all", "--name"):
            virsh("net-destroy", network)
            virsh("net-undefine", network)
            removed.append(f"network {network}")
    return removed
