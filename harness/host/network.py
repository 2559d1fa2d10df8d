"""What libvirt on this host already holds: a new lab must not collide with it,
and a destroyed lab must leave none of its own behind."""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
import xml.etree.ElementTree as ET

import libvirt

from harness.config.lab import LabConfig, LabConfigError
from harness.host import domains

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
    done = virsh(*args)
    if done.returncode != 0:
        # An empty list here would read as "nothing there": a sweep or a check that sees nothing.
        raise LabConfigError(
            f"virsh {' '.join(args)} failed: {done.stderr.strip()}; 'ha-lab doctor --fix' starts libvirt"
        )
    return [line.strip() for line in done.stdout.splitlines() if line.strip()]


def pool_volumes(pool: str = "default") -> dict[str, libvirt.virStorageVol]:
    """The volumes of a storage pool by name ({} without the pool); virsh's vol-list has no --name."""
    with domains.connection() as conn:
        try:
            found = conn.storagePoolLookupByName(pool)
        except libvirt.libvirtError:
            return {}
        if not found.isActive():
            return {}
        found.refresh(0)
        return {vol.name(): vol for vol in found.listAllVolumes()}


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


def sweep_volumes(config: LabConfig, pool: str = "default") -> list[str]:
    """Remove the volumes named after this lab (a failed bring-up's disks) from the pool."""
    removed = []
    for name, volume in pool_volumes(pool).items():
        if name.startswith(config.domain_prefix):
            volume.delete(0)
            removed.append(f"volume {name}")
    return removed


def sweep(config: LabConfig) -> list[str]:
    """Remove every domain, volume and network of this lab that libvirt still has."""
    removed = []
    for domain in _names("list", "--all", "--name"):
        if domain.startswith(config.domain_prefix):
            virsh("destroy", domain)
            virsh("undefine", domain, "--remove-all-storage")
            removed.append(f"domain {domain}")
    removed += sweep_volumes(config)
    for network in config.network_names.values():
        if network in _names("net-list", "--all", "--name"):
            virsh("net-destroy", network)
            virsh("net-undefine", network)
            removed.append(f"network {network}")
    return removed
