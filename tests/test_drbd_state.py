"""/proc/drbd as the 8.4 module writes it, read into roles and disk states."""

from __future__ import annotations

from harness.cluster.drbd import parse_proc_drbd

CONNECTED = """version: 8.4.11 (api:1/proto:86-101)
srcversion: 211FB288A383ED945B83420
 0: cs:Connected ro:Primary/Secondary ds:UpToDate/UpToDate C r-----
    ns:1052 nr:0 dw:1052 dr:5137 al:2 bm:0 lo:0 pe:0 ua:0 ap:0 ep:1 wo:f oos:0
"""

SYNCING = """version: 8.4.11 (api:1/proto:86-101)
 0: cs:SyncTarget ro:Secondary/Primary ds:Inconsistent/UpToDate C r-----
    ns:0 nr:1280 dw:1280 dr:0 al:0 bm:0 lo:0 pe:0 ua:0 ap:0 ep:1 wo:f oos:2096000
\t[>....................] sync'ed:  0.2% (2046/2048)M
"""


def test_connected_primary_is_healthy() -> None:
    state = parse_proc_drbd(CONNECTED)
    assert (state.connection, state.role, state.peer_role) == ("Connected", "Primary", "Secondary")
    assert state.healthy


def test_a_resync_is_not_healthy() -> None:
    state = parse_proc_drbd(SYNCING)
    assert (state.connection, state.role, state.disk, state.peer_disk) == (
        "SyncTarget",
        "Secondary",
        "Inconsistent",
        "UpToDate",
    )
    assert not state.healthy


def test_an_unconfigured_minor_and_an_absent_one() -> None:
    down = parse_proc_drbd("version: 8.4.11\n 0: cs:Unconfigured\n")
    assert down.connection == "Unconfigured" and down.role == "Unknown" and not down.healthy
    assert parse_proc_drbd(CONNECTED, minor=1).connection == "Unconfigured"
