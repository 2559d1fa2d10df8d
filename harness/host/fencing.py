"""The host's side of fencing: fence_virtd, libvirt backend, listening for the lab's fence_xvm.

The nodes' fence_xvm multicasts a signed request on the lab network; fence_virtd on the
host checks it with the lab's key, then powers the named libvirt domain off and on
(a reboot) or off. There is no systemd here to run the daemon, so the harness does,
one per lab, on the lab's own port and bridge, with its pid file in the lab's state
(found by its config file when the pid file is gone).
"""

from __future__ import annotations

import itertools
import os
import secrets
import signal
import subprocess
import time
from pathlib import Path

from harness.config.facts import FENCE
from harness.config.lab import LabConfig
from harness.errors import HarnessError
from harness.host import network as host_network
from harness.host.preflight import udp_port_free
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


def render_groups(config: LabConfig) -> str:
    """One group per cluster: a request is obeyed only from a node's lab address and only for
    a domain of that node's own cluster (fence_virtd checks the sender against the group's
    addresses and the target against its members), so no node can power-cycle another
    cluster's node, or anything else on the host."""
    groups = []
    for role in ("hv", "nas"):
        nodes = config.nodes(role)
        lines = [f'        name = "{config.name}-{role}";']
        lines += [f'        ip = "{config.lab_ip(n.offset)}";' for n in nodes]
        lines += [f'        uuid = "{config.domain_prefix}{n.name}";' for n in nodes]
        groups.append("    group {\n" + "\n".join(lines) + "\n    }")
    return "groups {\n" + "\n".join(groups) + "\n}\n"


def render_conf(config: LabConfig, key: Path, bridge: str) -> str:
    """fence_virtd's configuration: multicast listener on the lab's bridge, libvirt backend,
    requests limited to each cluster's own domains."""
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
{render_groups(config)}"""


def _files(state_dir: Path) -> tuple[Path, Path, Path]:
    folder = state_dir / "fence_virtd"
    return folder / "fence_virt.conf", folder / "fence_virtd.pid", state_dir / "logs" / "fence_virtd.log"


def running_pid(state_dir: Path) -> int | None:
    """The pid of this lab's fence_virtd, if it runs: the one its pid file names, else any
    fence_virtd started with this lab's config file (a lost pid file must not orphan it)."""
    conf, pid_file, _ = _files(state_dir)
    try:
        named = [int(pid_file.read_text().split()[0])]
    except (OSError, ValueError, IndexError):
        named = []
    others = (int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit())
    return next((pid for pid in (*named, *others) if _serves(pid, conf)), None)


def _serves(pid: int, conf: Path) -> bool:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    pairs = itertools.pairwise(argv)
    return Path(argv[0].decode(errors="replace")).name == "fence_virtd" and (b"-f", str(conf).encode()) in pairs


def ensure_running(config: LabConfig, secrets_dir: Path) -> int:
    """Start this lab's fence_virtd unless it runs with the config this code writes (one with an
    older config, such as one without the clusters' groups, is restarted); return its pid."""
    state_dir = config.state_dir
    pid = running_pid(state_dir)
    if pid is not None:
        conf = _files(state_dir)[0]
        wanted = render_conf(config, write_key(secrets_dir), host_network.bridge_of(config.network_names["lab"]))
        if conf.exists() and conf.read_text() == wanted:
            return pid
        stop(state_dir)
    if not Path(DAEMON).exists():
        raise FencingError(f"{DAEMON} is missing: install fence-virtd (bash bootstrap.sh does)")
    if not udp_port_free(config.fence_port):
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
            lambda: running_pid(state_dir) is not None and not udp_port_free(config.fence_port),
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
