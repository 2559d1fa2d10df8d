"""libvirt on the vnodes, through libvirt-python over the lab's SSH."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from urllib.parse import quote

import libvirt

from harness.config.facts import LIBVIRT
from harness.errors import HarnessError

# libvirt prints every error to stderr before raising it; the callers here handle them.
libvirt.registerErrorHandler(lambda _ctx, _err: None, None)


# A vnode that stops answering (hung, powered off, its network cut) closes the connection after
# INTERVAL * COUNT seconds, and calls on it then fail instead of waiting on TCP for many minutes.
# Generous: a TCG vnode's libvirtd can be slow to answer during a move.
KEEPALIVE_INTERVAL_S = 10
KEEPALIVE_COUNT = 12
_events: threading.Thread | None = None
_events_lock = threading.Lock()


def _run_events() -> None:
    """libvirt's keepalive is driven by its event loop: one daemon thread runs the default one."""
    global _events
    with _events_lock:
        if _events is not None:
            return
        libvirt.virEventRegisterDefaultImpl()

        def loop() -> None:
            while True:
                libvirt.virEventRunDefaultImpl()

        _events = threading.Thread(target=loop, name="libvirt events", daemon=True)
        _events.start()


def connect(ssh_command: Path, node: str) -> libvirt.virConnect:
    """libvirt on a vnode, through `ssh_command` (the lab's ssh with its config): the node's host
    key is checked as on every other SSH call, and its address, user and key come from the config."""
    if not os.access(ssh_command, os.X_OK):
        # libvirt would run it on the far side of a pipe and say only "Permission denied".
        raise HarnessError(
            f"{ssh_command} is not an executable ssh command: pass the lab's ssh wrapper (Lab.ssh_command()), "
            "not its config file"
        )
    _run_events()
    uri = f"qemu+ssh://{node}/system?command={quote(str(ssh_command), safe='/')}&no_tty=1"
    conn = libvirt.open(uri)
    conn.setKeepAlive(KEEPALIVE_INTERVAL_S, KEEPALIVE_COUNT)
    return conn


def guest_state(conn: libvirt.virConnect) -> str | None:
    """The guest's state here ("running", "paused", …), or None where it is not defined."""
    try:
        domain = conn.lookupByName(LIBVIRT.domain)
    except libvirt.libvirtError:
        return None
    state, reason = domain.state()
    if state == libvirt.VIR_DOMAIN_PAUSED and reason == libvirt.VIR_DOMAIN_PAUSED_IOERROR:
        return "paused (I/O error)"
    names = {
        libvirt.VIR_DOMAIN_RUNNING: "running",
        libvirt.VIR_DOMAIN_PAUSED: "paused",
        libvirt.VIR_DOMAIN_SHUTOFF: "shutoff",
        libvirt.VIR_DOMAIN_CRASHED: "crashed",
    }
    return names.get(state, f"state {state}")


def completed_job(conn: libvirt.virConnect) -> dict[str, object] | None:
    """libvirt's statistics of the guest's last completed job here (after an incoming migration:
    downtime, downtime_net, time_elapsed in ms, data_total in bytes), or None if it has none."""
    try:
        stats = conn.lookupByName(LIBVIRT.domain).jobStats(libvirt.VIR_DOMAIN_JOB_STATS_COMPLETED)
    except libvirt.libvirtError:
        return None
    return dict(stats) if stats.get("type", libvirt.VIR_DOMAIN_JOB_NONE) != libvirt.VIR_DOMAIN_JOB_NONE else None


def guest_active(conn: libvirt.virConnect) -> bool:
    """Whether the guest is active here (running, paused, or an incoming migration's paused domain)."""
    try:
        return bool(conn.lookupByName(LIBVIRT.domain).isActive())
    except libvirt.libvirtError:
        return False  # not defined here, or gone while we asked


def probe_settings(conn: libvirt.virConnect) -> dict[str, str]:
    """The probe.* settings on the running guest's kernel command line ({"ring": "8192", …})."""
    import xml.etree.ElementTree as ET

    cmdline = ET.fromstring(conn.lookupByName(LIBVIRT.domain).XMLDesc()).findtext("os/cmdline", "")
    return {
        key.removeprefix("probe."): value
        for key, _, value in (word.partition("=") for word in cmdline.split())
        if key.startswith("probe.")
    }
