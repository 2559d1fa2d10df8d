"""The host's side of fencing: fence_virtd, libvirt backend, listening for the lab's fence_xvm.

The nodes' fence_xvm multicasts a signed request on the lab network; fence_virtd on the
host checks it with the cluster's key, then powers the named libvirt domain off and on
(a reboot) or off. One fence_virtd per cluster (it has one key per listener), each on its
own port with its own key, obeying only its cluster's nodes and only for their domains:
neither cluster's key opens the other's nodes, nor anything else on the host. There is no
systemd here to run them, so the harness does, with their pid files in the lab's state
(found by their config files when a pid file is gone).
"""

from __future__ import annotations

import contextlib
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

ROLES = ("hv", "nas")
DAEMON = "/usr/sbin/fence_virtd"
START_TIMEOUT_S = 30.0


def key_name(role: str) -> str:
    """A cluster's fence key in the lab's secrets folder (FENCE.key_file on its nodes)."""
    return f"fence_xvm-{role}.key"


class FencingError(HarnessError):
    """fence_virtd cannot serve the lab; the message says what to do."""


def write_key(secrets_dir: Path, role: str) -> Path:
    """A cluster's fence key: 4 KiB of random bytes, mode 0600, made once."""
    key = secrets_dir / key_name(role)
    if not key.exists():
        key.touch(mode=0o600)
        key.write_bytes(secrets.token_bytes(4096))
    return key


def render_group(config: LabConfig, role: str) -> str:
    """The cluster's group: a request is obeyed only from one of its nodes' lab addresses and
    only for one of its nodes' domains (fence_virtd checks the sender against the group's
    addresses and the target against its members)."""
    nodes = config.nodes(role)
    lines = [f'        name = "{config.name}-{role}";']
    lines += [f'        ip = "{config.lab_ip(n.offset)}";' for n in nodes]
    lines += [f'        uuid = "{config.domain_prefix}{n.name}";' for n in nodes]
    return "groups {\n    group {\n" + "\n".join(lines) + "\n    }\n}\n"


def render_conf(config: LabConfig, role: str, key: Path, bridge: str) -> str:
    """One cluster's fence_virtd: multicast listener on the lab's bridge and the cluster's port,
    signed with the cluster's key, libvirt backend, its group."""
    return f"""# Written by the harness (harness/host/fencing.py) for lab {config.name}, cluster {role}.
fence_virtd {{
    listener = "multicast";
    backend = "libvirt";
}}
listeners {{
    multicast {{
        key_file = "{key}";
        address = "{FENCE.multicast}";
        port = "{config.fence_ports[role]}";
        family = "ipv4";
        interface = "{bridge}";
    }}
}}
backends {{
    libvirt {{
        uri = "qemu:///system";
    }}
}}
{render_group(config, role)}"""


def _folder(state_dir: Path) -> Path:
    return state_dir / "fence_virtd"


def _files(state_dir: Path, role: str) -> tuple[Path, Path, Path]:
    folder = _folder(state_dir)
    return folder / f"{role}.conf", folder / f"{role}.pid", state_dir / "logs" / f"fence_virtd-{role}.log"


def running_pids(state_dir: Path) -> dict[str, int]:
    """Each running fence_virtd of this lab, by the config it was started with (its name: the
    cluster's role): the ones the pid files name, and any other started with a config file in
    this lab's folder (a lost pid file must not orphan one, nor must one of older code)."""
    named = []
    for pid_file in _folder(state_dir).glob("*.pid"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            named.append(int(pid_file.read_text().split()[0]))
    found: dict[str, int] = {}
    for pid in (*named, *(int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit())):
        conf = _config_of(pid)
        if conf is not None and conf.parent == _folder(state_dir):
            found.setdefault(conf.stem, pid)
    return found


def _config_of(pid: int) -> Path | None:
    """The config file a fence_virtd process was started with (-f), or None for any other process."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return None
    if Path(argv[0].decode(errors="replace")).name != "fence_virtd":
        return None
    return next((Path(value.decode()) for flag, value in itertools.pairwise(argv) if flag == b"-f"), None)


def ensure_running(config: LabConfig, secrets_dir: Path) -> dict[str, int]:
    """Start each cluster's fence_virtd unless it runs with the config this code writes (one with
    an older config is restarted, one of older code stopped); return their pids by role. A taken
    port is refused before anything is started or written."""
    state_dir = config.state_dir

    def wanted(role: str) -> str:
        bridge = host_network.bridge_of(config.network_names["lab"])
        return render_conf(config, role, write_key(secrets_dir, role), bridge)

    for name, pid in running_pids(state_dir).items():
        conf = _files(state_dir, name)[0]
        if name not in ROLES or not conf.exists() or conf.read_text() != wanted(name):
            _kill(pid)
    running = running_pids(state_dir)
    missing = [role for role in ROLES if role not in running]
    if missing and not Path(DAEMON).exists():
        raise FencingError(f"{DAEMON} is missing: install fence-virtd (bash bootstrap.sh does)")
    for role in missing:
        port = config.fence_ports[role]
        if not udp_port_free(port):
            raise FencingError(
                f"UDP port {port} (the {role} cluster's fence port) is taken (another lab's or the system's "
                "fence_virtd?): set fence_port in lab.toml so that it and the next one are free, or stop that daemon"
            )
    for role in missing:
        running[role] = _start(config, role, wanted(role))
    return running


def _start(config: LabConfig, role: str, text: str) -> int:
    state_dir, port = config.state_dir, config.fence_ports[role]
    conf, pid_file, log = _files(state_dir, role)
    conf.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    log.parent.mkdir(parents=True, exist_ok=True)
    conf.write_text(text)
    conf.chmod(0o600)  # fence_virtd would do it, and say so in a syslog nobody reads here
    # -F: stay in the foreground (no systemd to supervise it); -w: wait for libvirt instead of exiting.
    with open(log, "ab") as out:
        subprocess.Popen(
            ["stdbuf", "-oL", DAEMON, "-F", "-w", "-d1", "-f", str(conf), "-p", str(pid_file)],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        wait_for(
            f"the {role} cluster's fence_virtd listening on UDP {port}",
            START_TIMEOUT_S,
            lambda: role in running_pids(state_dir) and not udp_port_free(port),
            every_s=0.5,
        )
    except WaitTimeout as err:
        raise FencingError(f"{err}: see {log}") from err
    return running_pids(state_dir)[role]


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # gone on its own meanwhile
        os.kill(pid, signal.SIGTERM)
        for _ in range(50):
            if not Path(f"/proc/{pid}").exists():
                return
            time.sleep(0.1)
        os.kill(pid, signal.SIGKILL)


def stop(state_dir: Path) -> list[str]:
    """Stop every fence_virtd of this lab; which ones ran."""
    running = running_pids(state_dir)
    for pid in running.values():
        _kill(pid)
    return sorted(running)
