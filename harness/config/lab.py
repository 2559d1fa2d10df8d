"""The one lab configuration: a name and a subnet, and everything derived from them.

Every name and address the Vagrantfile, the provisioning and the harness use
comes from here, so two labs with different names and subnets can share a host.
"""

from __future__ import annotations

import html
import ipaddress
import json
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from harness.config import facts
from harness.config.timings import PROBE, TIMINGS
from harness.errors import HarnessError

REPO = Path(__file__).resolve().parents[2]
DEFAULT_FILE = REPO / "lab.toml"

# Host part of each lab-network address (DESIGN.md, "Networks").
HOST_OFFSET = 1
VIP_OFFSET = 20
GUEST_OFFSET = 50


@dataclass(frozen=True)
class Node:
    name: str
    role: str  # "hv" or "nas"
    offset: int
    memory_mib: int


NODES = (
    Node("vnode2", "hv", 12, 1536),
    Node("vnode3", "hv", 13, 1536),
    Node("nas1", "nas", 21, 768),
    Node("nas2", "nas", 22, 768),
)


def node_names(role: str | None = None) -> tuple[str, ...]:
    """The names of the nodes with that role (all without one), in order: for what is written
    before there is a LabConfig (scenario tables, test parameters)."""
    return tuple(n.name for n in NODES if role is None or n.role == role)


KEYS = ("name", "subnet", "observer_port", "fence_port")  # what lab.toml may set
OWNER_MARK = "ha-lab state:"  # a domain's libvirt description: which state folder made it


def default_state_root() -> Path:
    """Where labs keep their state: outside any checkout, so cleaning one (a CI runner's
    `git clean -ffdx`) orphans nothing. $HA_LAB_STATE, else $XDG_STATE_HOME/ha-lab."""
    if os.environ.get("HA_LAB_STATE"):
        return Path(os.environ["HA_LAB_STATE"])
    return Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state") / "ha-lab"


class LabConfigError(HarnessError, ValueError):
    """A lab configuration that cannot work; the message says what to change."""


@dataclass(frozen=True)
class LabConfig:
    name: str = "halab"
    subnet: str = "10.77.0.0/24"
    observer_port: int = 47000
    fence_port: int = 47001  # UDP: the hypervisors' fence_virtd; the NAS nodes' listens on the next port
    state_root: Path = field(default_factory=default_state_root)

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[a-z][a-z0-9-]{0,11}", self.name):
            raise LabConfigError(
                f"lab name {self.name!r}: use 1-12 lower-case letters, digits or '-', starting with a letter"
            )
        try:
            net = ipaddress.IPv4Network(self.subnet)
        except ValueError as err:
            raise LabConfigError(f"subnet {self.subnet!r}: {err}; give a network such as 10.77.0.0/24") from err
        if net.prefixlen != 24 or not net.is_private:
            raise LabConfigError(f"subnet {self.subnet}: the lab wants a private /24, such as 10.77.0.0/24")
        if int(net.network_address) + 3 * 256 > int(ipaddress.IPv4Address("255.255.255.255")):
            raise LabConfigError(f"subnet {self.subnet}: the two /24s after it must exist too")
        if not 1024 <= self.observer_port <= 65535:
            raise LabConfigError(f"observer_port {self.observer_port}: use 1024-65535")
        if not 1024 <= self.fence_port <= 65534:
            raise LabConfigError(f"fence_port {self.fence_port}: use 1024-65534 (the NAS cluster's is the next one)")
        if self.observer_port in self.fence_ports.values():
            raise LabConfigError(
                f"observer_port {self.observer_port} is one of the fence ports {sorted(self.fence_ports.values())} "
                "(fence_port and the one after it): give them different ports"
            )

    @classmethod
    def load(cls, path: Path | None = None, **overrides: object) -> LabConfig:
        """Read lab.toml (all keys optional); explicit overrides win."""
        source = path or DEFAULT_FILE
        values: dict[str, object] = {}
        if source.exists():
            try:
                values = tomllib.loads(source.read_text())
            except tomllib.TOMLDecodeError as err:
                raise LabConfigError(f"{source}: {err}") from err
            unknown = set(values) - set(KEYS)
            if unknown:
                raise LabConfigError(f"{source}: unknown keys {sorted(unknown)}; known: {', '.join(KEYS)}")
        elif path is not None:
            raise LabConfigError(f"{path}: no such lab config file")
        values.update({k: v for k, v in overrides.items() if v is not None})
        for key, kind, example in (("name", str, "'halab'"), ("subnet", str, "'10.77.0.0/24'")):
            if key in values and not isinstance(values[key], kind):
                raise LabConfigError(f"{key} {values[key]!r}: must be a quoted string, such as {example}")
        for key in ("observer_port", "fence_port"):
            if key in values and (not isinstance(values[key], int) or isinstance(values[key], bool)):
                raise LabConfigError(f"{key} {values[key]!r}: must be a number")
        return cls(**values)  # type: ignore[arg-type]

    # Networks: lab, then replication, then management, three /24s in a row.
    def _net(self, index: int) -> ipaddress.IPv4Network:
        base = int(ipaddress.IPv4Network(self.subnet).network_address)
        return ipaddress.IPv4Network((base + index * 256, 24))

    @property
    def lab_net(self) -> ipaddress.IPv4Network:
        return self._net(0)

    @property
    def replication_net(self) -> ipaddress.IPv4Network:
        return self._net(1)

    @property
    def management_net(self) -> ipaddress.IPv4Network:
        return self._net(2)

    def lab_ip(self, offset: int) -> str:
        return str(self.lab_net.network_address + offset)

    def replication_ip(self, offset: int) -> str:
        return str(self.replication_net.network_address + offset)

    @property
    def host_ip(self) -> str:
        return self.lab_ip(HOST_OFFSET)

    @property
    def vip(self) -> str:
        return self.lab_ip(VIP_OFFSET)

    @property
    def guest_ip(self) -> str:
        return self.lab_ip(GUEST_OFFSET)

    def nodes(self, role: str | None = None) -> list[Node]:
        return [n for n in NODES if role is None or n.role == role]

    def founder(self, role: str) -> str:
        """The node that forms its role's cluster: provisioning defines the resources there."""
        return self.nodes(role)[-1].name

    def role_of(self, node: str) -> str:
        for n in NODES:
            if n.name == node:
                return n.role
        raise LabConfigError(f"no node {node!r} in the lab: the nodes are {', '.join(n.name for n in NODES)}")

    @property
    def network_names(self) -> dict[str, str]:
        return {kind: f"{self.name}-{kind}" for kind in ("lab", "repl", "mgmt")}

    @property
    def state_dir(self) -> Path:
        return self.state_root / self.name

    @property
    def domain_prefix(self) -> str:
        return f"{self.name}_"

    @property
    def hypervisor_clients(self) -> str:
        """One export clientspec that covers the vnodes' lab addresses and nothing else (a /31)."""
        addresses = sorted(ipaddress.IPv4Address(self.lab_ip(n.offset)) for n in self.nodes("hv"))
        nets = list(ipaddress.summarize_address_range(addresses[0], addresses[-1]))
        if len(nets) != 1 or nets[0].num_addresses != len(addresses):
            raise LabConfigError(
                f"the vnodes' addresses {addresses} are not one aligned network: one export cannot name them"
            )
        return str(nets[0])

    @property
    def fence_ports(self) -> dict[str, int]:
        """Each cluster's fence_virtd listens on a port of its own, with a key of its own."""
        return {"hv": self.fence_port, "nas": self.fence_port + 1}

    @property
    def owner(self) -> str:
        """What each of this lab's domains carries as its description, to be told from another's."""
        return f"{OWNER_MARK} {self.state_dir.resolve()}"

    def render(self, accel: str, box: str, console_dir: Path) -> dict[str, object]:
        """What the Vagrantfile and the provisioning read (lab.json)."""
        if accel not in TIMINGS:
            raise LabConfigError(f"accelerator {accel!r}: kvm or tcg")
        return {
            "name": self.name,
            "box": box,
            "accel": accel,
            "domain_prefix": self.domain_prefix,
            "owner_xml": html.escape(self.owner),  # vagrant-libvirt puts it into the domain XML unescaped
            "console_dir": str(console_dir),
            "networks": {
                "lab": {"name": self.network_names["lab"], "host_ip": self.host_ip, "netmask": "255.255.255.0"},
                "repl": {
                    "name": self.network_names["repl"],
                    "host_ip": self.replication_ip(HOST_OFFSET),
                    "netmask": "255.255.255.0",
                },
                "mgmt": {"name": self.network_names["mgmt"], "address": str(self.management_net)},
            },
            "nodes": [
                {
                    "name": n.name,
                    "role": n.role,
                    "lab_ip": self.lab_ip(n.offset),
                    "repl_ip": self.replication_ip(n.offset) if n.role == "nas" else None,
                    "memory_mib": n.memory_mib,
                    "cpus": 1,
                }
                for n in NODES
            ],
            "clusters": {role: {"founder": self.founder(role)} for role in ("nas", "hv")},
            "vip": self.vip,
            "nfs_clients": self.hypervisor_clients,
            "guest_ip": self.guest_ip,
            "observer": f"{self.host_ip}:{self.observer_port}",
            "fence_ports": self.fence_ports,
            "timings": TIMINGS[accel].__dict__,
            "probe": PROBE.__dict__,
            **facts.render(),  # resources, paths, drbd, nfs, libvirt, fence (harness/config/facts.py)
        }

    def write(self, accel: str, box: str, console_dir: Path) -> Path:
        self.state_root.mkdir(mode=0o700, parents=True, exist_ok=True)  # keys and secrets live below
        self.state_dir.mkdir(mode=0o700, exist_ok=True)
        # Also when something made the folder first (the logs of a bring-up): it holds the lab's keys.
        self.state_dir.chmod(0o700)
        path = self.state_dir / "lab.json"
        path.write_text(json.dumps(self.render(accel, box, console_dir), indent=2) + "\n")
        return path
