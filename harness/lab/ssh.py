"""SSH to the lab's nodes: one shared connection per node, commands with their output or a log."""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.lab import host_keys
from harness.waiting import NotYet, wait_for

# Every remote command is bounded: a command stuck on a hard NFS mount must not hang the run.
# Longer than the longest wait the harness asks a node for (crm_resource --wait on TCG: 1200 s).
TIMEOUT_S = 2400.0
# Socket paths must stay under 108 bytes, so not under a deep checkout.
CONTROL_ROOT = Path("/tmp")


class LabError(HarnessError):
    """The lab cannot do what was asked; the message says what to do."""


class Ssh:
    """Commands on the nodes, over the connections Vagrant's SSH config describes."""

    def __init__(self, state_dir: Path, logs: Path, lab_name: str, vagrant_config: Callable[[], str]) -> None:
        self.state_dir, self.logs, self.lab_name = state_dir, logs, lab_name
        self._vagrant_config = vagrant_config

    @property
    def known_hosts(self) -> Path:
        """The nodes' host keys, learnt from their consoles at bring-up (harness.lab.host_keys)."""
        return self.state_dir / "known_hosts"

    def forget_config(self) -> None:
        """Made again on next use: the host keys changed."""
        for made in (self.state_dir / "ssh_config", self.state_dir / "ssh"):
            made.unlink(missing_ok=True)

    def config(self) -> Path:
        """Vagrant's SSH config with the nodes' host keys checked, plus one shared connection per
        node (see `_connect`)."""
        path = self.state_dir / "ssh_config"
        # Made (and checked) on every use: a destroy removes it while the config stays.
        control = self.control_dir()
        if not path.exists():
            if not self.known_hosts.exists():
                raise LabError(
                    f"lab {self.lab_name}: the nodes' host keys are not known ({self.known_hosts} is missing), and "
                    "the harness does not SSH to a node it cannot check: 'ha-lab up' learns them from the consoles"
                )
            # An SSH handshake costs a TCG node a second or more; a test makes hundreds of calls.
            # ControlMaster stays "no": only _connect starts masters, with no pipes to hold open.
            shared = (
                f"Host *\n  ControlMaster no\n  ControlPath {control}/%C\n"
                "  ServerAliveInterval 15\n  ServerAliveCountMax 4\n  BatchMode yes\n"
            )
            path.write_text(host_keys.pinned(self._vagrant_config(), self.known_hosts) + "\n" + shared)
        return path

    def command(self) -> Path:
        """`ssh` with this lab's config: what libvirt runs for a qemu+ssh:// connection to a node
        (its `command=` parameter), so that connection checks the node's host key too."""
        path = self.state_dir / "ssh"
        if not path.exists():
            path.write_text(f'#!/bin/sh\nexec ssh -F "{self.config()}" "$@"\n')
            path.chmod(0o700)
        return path

    def control_path(self) -> Path:
        digest = hashlib.sha256(str(self.state_dir).encode()).hexdigest()[:10]
        return CONTROL_ROOT / f"halab-ssh-{self.lab_name}-{digest}"

    def wait_reachable(self, node: str, timeout: float) -> None:
        """Until `node` answers over SSH. Just after a restore the host may not reach a node for a
        few seconds (ssh: "No route to host" until its neighbour entry is learnt again)."""

        def answers() -> bool:
            try:
                self.run(node, "true", timeout=30)
            except LabError as err:
                raise NotYet(str(err).splitlines()[-1]) from err  # ssh's own words, e.g. No route to host
            return True

        wait_for(f"{node} answering SSH", timeout, answers, every_s=2)

    def control_dir(self) -> Path:
        """The folder of the shared connections' sockets: whoever can open one runs commands as
        root on the nodes, so it must be this user's own, a real folder, and closed to others."""
        path = self.control_path()
        with contextlib.suppress(FileExistsError):
            path.mkdir(mode=0o700)
        st = path.lstat()
        mode = stat.S_IMODE(st.st_mode)
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or mode & 0o077:
            raise LabError(
                f"{path}, the folder of the lab's SSH control sockets, is not a private folder of this user "
                f"(mode {mode:04o}, owner uid {st.st_uid}): remove it (rm -r {path}); the harness makes it again"
            )
        return path

    def _connect(self, node: str) -> None:
        """Start this node's shared SSH connection unless it runs; calls without one still work."""
        config = str(self.config())
        if subprocess.run(["ssh", "-F", config, "-O", "check", node], capture_output=True, check=False).returncode == 0:
            return
        subprocess.run(
            ["ssh", "-F", config, "-o", "BatchMode=yes", "-o", "ControlMaster=yes", "-o", "ControlPersist=600",
             "-f", "-N", node],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False, timeout=120,
        )  # fmt: skip

    def disconnect(self, node: str) -> None:
        subprocess.run(["ssh", "-F", str(self.config()), "-O", "exit", node], capture_output=True, check=False)

    def argv(self, node: str, command: str) -> list[str]:
        """The command line that runs `command` on `node` over its shared connection."""
        self._connect(node)
        return ["ssh", "-F", str(self.config()), "-o", "BatchMode=yes", node, command]

    def run(
        self, node: str, command: str, log: str | None = None, stdin: bytes | None = None, timeout: float = TIMEOUT_S
    ) -> str:
        """Run a command on a node and return its output.

        With `log`, the output streams to logs/NODE-LOG.log instead (long
        provisioning steps: follow them with tail -f) and "" is returned.
        """
        args = self.argv(node, command)
        if log:
            path = self.logs / f"{node}-{log}.log"
            with open(path, "a") as f:
                f.write(f"$ {command}\n")
                f.flush()
                result = _bounded(node, command, timeout, args, input=stdin or b"", stdout=f, stderr=subprocess.STDOUT)
            out, shown = "", path.read_text(errors="replace")
        else:
            result = _bounded(node, command, timeout, args, input=stdin or b"", capture_output=True)
            out = result.stdout.decode(errors="replace")
            shown = out + result.stderr.decode(errors="replace")
        if result.returncode != 0:
            tail = "\n".join(shown.splitlines()[-15:])
            raise LabError(f"{node}: '{command}' failed (exit {result.returncode}):\n{tail}")
        return out

    def run_bytes(self, node: str, command: str) -> bytes:
        """Run a command on a node and return its output unchanged (file contents, images)."""
        args = self.argv(node, command)
        done = _bounded(node, command, TIMEOUT_S, args, stdin=subprocess.DEVNULL, capture_output=True)
        if done.returncode != 0:
            raise LabError(f"{node}: '{command}' failed (exit {done.returncode}): {done.stderr.decode()[-500:]}")
        return done.stdout

    def clock_offset_ns(self, node: str) -> int:
        """The node's CLOCK_REALTIME less the host's, within half an SSH round trip."""
        before = time.time_ns()
        remote = int(self.run(node, "date +%s%N"))
        after = time.time_ns()
        return remote - (before + after) // 2

    def host(self, node: str) -> Any:  # testinfra's Host
        import testinfra

        return testinfra.get_host(f"ssh://{node}", ssh_config=str(self.config()), sudo=True)


def _bounded(
    node: str, command: str, timeout: float, args: list[str], **kwargs: Any
) -> subprocess.CompletedProcess[bytes]:
    """One remote call within `timeout`: a hang ends as an error naming the command."""
    try:
        return subprocess.run(args, check=False, timeout=timeout, **kwargs)
    except subprocess.TimeoutExpired as err:
        raise LabError(f"{node}: '{command}' did not finish within {timeout:.0f} s; the node may be hung") from err
