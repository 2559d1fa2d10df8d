"""A node's power, from the host: a hard off, and on again."""

from __future__ import annotations

from harness.host import network as host_network
from harness.lab.handle import Lab
from harness.lab.ssh import LabError
from harness.waiting import wait_for


def domain(lab: Lab, node: str) -> str:
    return f"{lab.config.domain_prefix}{node}"


def power_off(lab: Lab, node: str) -> None:
    """A hard power-off from the host (no shutdown): what a dead machine looks like to its peer."""
    done = host_network.virsh("destroy", domain(lab, node))
    if done.returncode != 0:
        raise LabError(f"virsh destroy {domain(lab, node)} failed: {done.stderr.strip()}")
    lab.down.add(node)


def power_on(lab: Lab, node: str, timeout_s: float) -> None:
    """Start the domain unless fencing already did, and wait until the node answers SSH."""
    if host_network.virsh("domstate", domain(lab, node)).stdout.strip() != "running":
        done = host_network.virsh("start", domain(lab, node))
        if done.returncode != 0:
            raise LabError(f"virsh start {domain(lab, node)} failed: {done.stderr.strip()}")

    def answers_ssh() -> bool:
        lab.ssh(node, "true")  # raises LabError until the node's sshd answers
        return True

    wait_for(f"{node} answering SSH after its power-on", timeout_s, answers_ssh, every_s=5)
    lab.down.discard(node)
