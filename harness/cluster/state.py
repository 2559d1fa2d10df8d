"""A Pacemaker cluster's state, as `crm_mon --output-as=xml` and the CIB report it."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass


@dataclass(frozen=True)
class Resource:
    id: str
    agent: str
    role: str
    active: bool
    failed: bool
    nodes: tuple[str, ...]
    pending: str = ""  # an action in flight ("Migrating", "Starting", …), if any


@dataclass(frozen=True)
class Failure:
    op_key: str
    node: str
    exit_reason: str


@dataclass(frozen=True)
class ClusterState:
    online: tuple[str, ...]
    offline: tuple[str, ...]
    resources: tuple[Resource, ...]
    failures: tuple[Failure, ...]

    @classmethod
    def from_xml(cls, text: str) -> ClusterState:
        root = ET.fromstring(text)
        nodes = root.find("nodes")
        node_list = list(nodes) if nodes is not None else []
        resources = root.find("resources")
        return cls(
            online=tuple(n.get("name", "") for n in node_list if n.get("online") == "true"),
            offline=tuple(n.get("name", "") for n in node_list if n.get("online") != "true"),
            resources=tuple(
                Resource(
                    id=r.get("id", ""),
                    agent=r.get("resource_agent", ""),
                    role=r.get("role", ""),
                    active=r.get("active") == "true",
                    failed=r.get("failed") == "true",
                    nodes=tuple(n.get("name", "") for n in r.findall("node")),
                    pending=r.get("pending", ""),
                )
                for r in (resources.iter("resource") if resources is not None else [])
            ),
            failures=tuple(
                Failure(f.get("op_key", ""), f.get("node", ""), f.get("exitreason", "")) for f in root.iter("failure")
            ),
        )

    def instances(self, resource_id: str) -> list[Resource]:
        """A primitive, or every instance of a clone ("drbd_r0" gives drbd_r0:0 and drbd_r0:1)."""
        return [r for r in self.resources if r.id == resource_id or r.id.split(":")[0] == resource_id]

    def where(self, resource_id: str, role: str | None = None) -> list[str]:
        """The nodes where a resource is active (in `role`, if given)."""
        return sorted(
            node
            for r in self.instances(resource_id)
            if r.active and (role is None or r.role == role)
            for node in r.nodes
        )


@dataclass(frozen=True)
class Operation:
    """The newest record of one operation in the CIB's status section (times on the node's clock)."""

    resource: str
    node: str
    operation: str
    rc: int
    # last-rc-change, whole seconds: when the executor started the operation, not when it ended.
    changed_s: int
    exec_ms: int
    queue_ms: int
    interval_ms: int


def operations_from_cib(text: str) -> list[Operation]:
    """Every lrm_rsc_op of a CIB (`cibadmin --query`), oldest first."""
    ops: list[Operation] = []
    for node_state in ET.fromstring(text).iter("node_state"):
        node = node_state.get("uname", "")
        for resource in node_state.iter("lrm_resource"):
            for op in resource.iter("lrm_rsc_op"):
                ops.append(
                    Operation(
                        resource=resource.get("id", ""),
                        node=node,
                        operation=op.get("operation", ""),
                        rc=int(op.get("rc-code", "-1")),
                        changed_s=int(op.get("last-rc-change", "0")),
                        exec_ms=int(op.get("exec-time", "0")),
                        queue_ms=int(op.get("queue-time", "0")),
                        interval_ms=int(op.get("interval", "0")),
                    )
                )
    return sorted(ops, key=lambda o: (o.changed_s, o.node, o.resource, o.operation))


@dataclass(frozen=True)
class Location:
    id: str
    resource: str
    node: str
    score: str
    role: str


# What `crm_resource --move/--ban` and DRBD's fence-peer handler leave behind.
LEFTOVER_PREFIXES = ("cli-prefer-", "cli-ban-", "drbd-fence-by-handler-")


def locations_from_cib(text: str) -> list[Location]:
    """Every rsc_location constraint of a CIB or of its constraints section."""
    return [
        Location(c.get("id", ""), c.get("rsc", ""), c.get("node", ""), c.get("score", ""), c.get("role", ""))
        for c in ET.fromstring(text).iter("rsc_location")
    ]


def leftovers(locations: list[Location]) -> list[Location]:
    """Constraints a finished move must not leave: they pin or block resources from then on."""
    return [c for c in locations if c.id.startswith(LEFTOVER_PREFIXES)]
