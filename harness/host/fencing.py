"""The host's side of fencing: fence_virtd, libvirt backend, listening for the lab's fence_xvm.

The nodes' fence_xvm multicasts a signed request on the lab network; fence_virtd on the
host checks it with the lab's key, then powers the named libvirt domain off and on
(a reboot) or off. There is no systemd here to run the daemon, so the harness does,
one per lab, on the lab's own port and bridge, with its pid file in the lab's state.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import time
from pathlib import Path

from harness.config.facts import FENCE
from harness.config.lab import LabConfig
from harness.errors import HarnessError
from harness.host import network as host_network
from harness.waiting import WaitTimeout, wait_for

FENCE_KEY = Path(FENCE.key_file).name  # in the lab's secrets folder; FENCE.key_file on the nodes
DAEMON = "/usr/sbin/fence_virtd"
START_TIMEOUT_S = 30.0


class FencingError(HarnessError):
    """fence_virtd cannot serve the lab; the message says what to do."""


def write_key(secrets_dir: Path) -> Path:
    """The lab's fence key: 4 KiB of random bytes, mode 0600, made once."""
    key = secrets_dir / FENCE_KEY
    if not key.exists():
        key.touch(mode=0o600)
        key.write_bytes(secrets.token_bytes(4096))
    return key


def render_conf(config: LabConfig, key: Path, bridge: str) -> str:
    """fence_virtd's configuration: multicast listener on the lab's bridge, libvirt backend."""
    return f"""# Written by the harness (harness/host/fencing.py) for lab {config.name}.
fence_virtd {{
    listener = "multicast";
    backend = "libvirt";
}}
listeners {{
    multicast {{
        key_file = "{key}";
        address = "{FENCE.multicast}";
        port = "{config.fence_port}";
        family = "ipv4";
        interface = "{bridge}";
    }}
}}
backends {{
    libvirt {{
        uri = "qemu:///system";
    }}
}}
"""


def _files(state_dir: Path) -> tuple[Path, Path, Path]:
    folder = state_dir / "fence_virtd"
    return folder / "fence_virt.conf", folder / "fence_virtd.pid", state_dir / "logs" / "fence_virtd.log"


def running_pid(state_dir: Path) -> int | None:
    """The pid of this lab's fence_virtd, if it runs (a pid file alone proves nothing)."""
    conf, pid_file, _ = _files(state_dir)
    try:
        pid = int(pid_file.read_text().split()[0])
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError, IndexError):
        return None
    return pid if str(conf).encode() in cmdline else None


def _port_taken(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind(("0.0.0.0", port))
        except OSError:
            return True
    return False


def ensure_running(config: LabConfig, secrets_dir: Path) -> int:
    """Start this lab's fence_virtd unless it runs; return its pid."""
    state_dir = config.state_dir
    pid = running_pid(state_dir)
    if pid is not None:
        return pid
    if not Path(DAEMON).exists():
        raise FencingError(f"{DAEMON} is missing: install fence-virtd (bash bootstrap.sh does)")
    if _port_taken(config.fence_port):
        raise FencingError(
            f"UDP port {config.fence_port} is taken (another lab's or the system's fence_virtd?): "
            "set fence_port in lab.toml to a free one, or stop that daemon"
        )
    bridge = host_network.bridge_of(config.network_names["lab"])
    conf, pid_file, log = _files(state_dir)
    conf.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    log.parent.mkdir(parents=True, exist_ok=True)
    conf.write_text(render_conf(config, write_key(secrets_dir), bridge))
    conf.chmod(0o600)  # fence_virtd would do it, and say so in a syslog nobody reads here
    # -F: stay in the foreground (no systemd to supervise it); -w: wait for libvirt instead of exiting.
    with open(log, "ab") as out:
        subprocess.Popen(
            ["stdbuf", "-oL", DAEMON, "-F", "-w", "-d1", "-f", str(conf), "-p", str(pid_file)],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        wait_for(
            f"fence_virtd listening on UDP {config.fence_port}",
            START_TIMEOUT_S,
            lambda: running_pid(state_dir) is not None and _port_taken(config.fence_port),
            every_s=0.5,
        )
    except WaitTimeout as err:
        raise FencingError(f"{err}: see {log}") from err
    pid = running_pid(state_dir)
    assert pid is not None  # the wait just saw it
    return pid


def stop(state_dir: Path) -> bool:
    """Stop this lab's fence_virtd; True if one ran."""
    pid = running_pid(state_dir)
    if pid is None:
        return False
    os.kill(pid, signal.SIGTERM)
    for _ in range(50):
        if not Path(f"/proc/{pid}").exists():
            break
        time.sleep(0.1)
    else:
        os.kill(pid, signal.SIGKILL)
    return True
