"""Watch the clusters during a move: state polled on the nodes, changes stamped on the host's clock.

One SSH session per poller runs a loop on the node and streams its output;
the host stamps each complete sample as it arrives (CLOCK_REALTIME, the
observer's clock). A change is reported once, when a key's value differs
from the previous sample, so the timeline reads like a log of transitions.
"""

from __future__ import annotations

import shlex
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from harness.cluster.drbd import parse_proc_drbd
from harness.cluster.state import ClusterState
from harness.waiting import NotYet, wait_for

END = "@@halab-sample-end@@"


@dataclass(frozen=True)
class Change:
    host_ns: int
    source: str  # "nas", "hv", "drbd nas1"
    key: str
    old: str | None  # None: first sample
    new: str


def cluster_keys(xml: str) -> dict[str, str]:
    """One value per node and per resource (instance) that a move changes."""
    state = ClusterState.from_xml(xml)
    keys = {f"node {n}": "online" for n in state.online} | {f"node {n}": "offline" for n in state.offline}
    for r in state.resources:
        name = r.id.split(":")[0]
        where = ",".join(r.nodes) or "-"
        value = f"{r.pending or r.role} {where}" + (" FAILED" if r.failed else "")
        keys[f"{name}@{where}" if ":" in r.id else name] = value
    keys["failed actions"] = str(len(state.failures))
    return keys


def drbd_keys(text: str) -> dict[str, str]:
    state = parse_proc_drbd(text)
    return {"role": state.role, "connection": state.connection, "disk": state.disk}


class Poller:
    """Run `command` on `node` every `interval` s and record what changes in its parsed output."""

    def __init__(
        self,
        argv: Callable[[str], list[str]],
        source: str,
        command: str,
        interval: float,
        parse: Callable[[str], Mapping[str, str]],
    ) -> None:
        """`argv(script)` gives the command line that runs a shell script where the state is (ssh to a node)."""
        self.source, self.parse = source, parse
        loop = f"while :; do {command}; echo {END}; sleep {interval}; done"
        self._process = subprocess.Popen(
            argv(loop),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self.changes: list[Change] = []
        self.samples = 0
        self.last: dict[str, str] = {}
        self.last_text = ""
        self._thread = threading.Thread(target=self._read, name=f"poll {source}", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self._process.stdout is not None
        block: list[str] = []
        for line in self._process.stdout:
            if line.rstrip("\n") != END:
                block.append(line)
                continue
            host_ns = time.time_ns()
            text, block = "".join(block), []
            try:
                values = dict(self.parse(text))
            except Exception:
                continue  # a torn sample (node busy, tool restarting) is skipped, not fatal
            for key, value in values.items():
                old = self.last.get(key)
                if old != value:
                    self.changes.append(Change(host_ns, self.source, key, old, value))
            self.last, self.last_text = values, text
            self.samples += 1

    def stop(self) -> None:
        self._process.terminate()
        try:
            self._process.wait(10)
        except subprocess.TimeoutExpired:
            self._process.kill()
        self._thread.join(10)


class Watch:
    """Pollers of both clusters' state and of DRBD on each NAS node, for the length of a `with`."""

    def __init__(
        self,
        ssh_argv: Callable[[str, str], list[str]],
        cluster_nodes: Mapping[str, str],
        nas_nodes: list[str],
        crm_mon_every: float = 2.0,
    ) -> None:
        """`ssh_argv(node, command)` gives the command line that runs a command on a node (Lab.ssh_argv)."""
        self.ssh_argv = ssh_argv
        self.crm_mon_every = crm_mon_every
        self.cluster_nodes, self.nas_nodes = dict(cluster_nodes), list(nas_nodes)
        self.pollers: list[Poller] = []

    def _on(self, node: str) -> Callable[[str], list[str]]:
        return lambda script: self.ssh_argv(node, f"sudo sh -c {shlex.quote(script)}")

    def __enter__(self) -> Watch:
        # Pacemaker's own operation history gives the actions' times; crm_mon only stamps state changes.
        for source, node in self.cluster_nodes.items():
            self.pollers.append(
                Poller(self._on(node), source, "crm_mon -1 --output-as=xml", self.crm_mon_every, cluster_keys)
            )
        for node in self.nas_nodes:
            self.pollers.append(Poller(self._on(node), f"drbd {node}", "cat /proc/drbd", 0.25, drbd_keys))
        return self

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Until every poller has its first sample: changes after this are real transitions."""

        def ready() -> bool:
            slow = [p.source for p in self.pollers if p.samples == 0]
            if slow:
                raise NotYet(f"no state from {', '.join(slow)}")
            return True

        wait_for("the watchers' first state", timeout, ready, every_s=0.2)

    def __exit__(self, *exc: object) -> None:
        for poller in self.pollers:
            poller.stop()

    @property
    def changes(self) -> list[Change]:
        return sorted((c for p in self.pollers for c in p.changes), key=lambda c: c.host_ns)
