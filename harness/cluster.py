"""A Pacemaker cluster's state, as `crm_mon --output-as=xml` reports it."""

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
