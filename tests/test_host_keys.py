"""Host keys learnt out of band: what the box prints on a node's serial console (its own script,
run here against keys made by ssh-keygen), read from the console log with pexpect, checked
against their fingerprints, and SSH configured to refuse any other key (as OpenSSH reads it)."""

from __future__ import annotations

import re
import subprocess
import threading
import time
from pathlib import Path

import pytest

from harness.config.lab import REPO
from harness.lab import host_keys
from harness.lab.host_keys import HostKey, HostKeyError

CUSTOMIZE = REPO / "provision" / "host" / "box" / "customize.sh"


def print_script() -> str:
    """The box's halab-print-hostkeys, as customize.sh installs it."""
    found = re.search(r"<<'PRINT'\n(.*?)\nPRINT\n", CUSTOMIZE.read_text(), re.S)
    assert found, "customize.sh no longer installs halab-print-hostkeys"
    return found.group(1) + "\n"


@pytest.fixture
def console(tmp_path: Path) -> tuple[Path, dict[str, HostKey]]:
    """A console log as a node's boot leaves it: kernel noise, then what the box's script printed
    about host keys made here; and those keys."""
    made = {}
    for kind, name in (("ed25519", "ssh-ed25519"), ("ecdsa", "ecdsa-sha2-nistp256")):
        key = tmp_path / f"ssh_host_{kind}_key"
        subprocess.run(["ssh-keygen", "-q", "-t", kind, "-N", "", "-f", str(key)], check=True)
        made[name] = HostKey(name, key.with_suffix(".pub").read_text().split()[1])
    log = tmp_path / "vnode2.log"
    log.write_text("[    1.234] Linux version 6.1.0\r\nhalab login: \r\n")
    script = tmp_path / "print"
    script.write_text(print_script().replace("/etc/ssh/", f"{tmp_path}/").replace("/dev/ttyS0", str(log)))
    script.write_text(script.read_text().replace(f">{log}", f">>{log}"))  # the console appends
    subprocess.run(["sh", str(script)], check=True)
    return log, made


def test_the_fingerprint_is_the_one_ssh_keygen_gives(console: tuple[Path, dict[str, HostKey]], tmp_path: Path) -> None:
    for key in console[1].values():
        pub = tmp_path / "k.pub"
        pub.write_text(f"{key.type} {key.key}\n")
        listed = subprocess.run(["ssh-keygen", "-l", "-E", "sha256", "-f", str(pub)], capture_output=True, text=True)
        assert listed.stdout.split()[1] == key.fingerprint


def test_the_keys_the_box_prints_are_read_back_from_the_console(console: tuple[Path, dict[str, HostKey]]) -> None:
    log, made = console
    assert sorted(host_keys.read_console("vnode2", log, timeout=10), key=lambda k: k.type) == sorted(
        made.values(), key=lambda k: k.type
    )


def test_keys_printed_after_the_reading_started_are_waited_for(
    tmp_path: Path, console: tuple[Path, dict[str, HostKey]]
) -> None:
    log = console[0]
    late = tmp_path / "late.log"
    threading.Timer(1.0, lambda: late.write_text(log.read_text())).start()  # QEMU makes the file at boot
    started = time.monotonic()
    assert len(host_keys.read_console("vnode2", late, timeout=20)) == 2
    assert time.monotonic() - started >= 1.0


def test_a_garbled_key_is_refused_not_trusted(console: tuple[Path, dict[str, HostKey]]) -> None:
    log, made = console
    key = made["ssh-ed25519"].key
    log.write_text(log.read_text().replace(key, key[:20] + ("A" if key[20] != "A" else "B") + key[21:]))
    with pytest.raises(HostKeyError, match=r"vnode2: the ssh-ed25519 key .* does not match the fingerprint"):
        host_keys.read_console("vnode2", log, timeout=10)


def test_a_console_without_keys_ends_with_what_to_do(tmp_path: Path) -> None:
    log = tmp_path / "nas1.log"
    log.write_text("[    1.234] Linux version 6.1.0\r\nhalab login: \r\n")  # a box from before the keys
    started = time.monotonic()
    with pytest.raises(HostKeyError, match=r"nas1 printed no SSH host keys .* within 1 s.*'ha-lab destroy'"):
        host_keys.read_console("nas1", log, timeout=1)
    assert time.monotonic() - started < 10


VAGRANT = """Host vnode2
  HostName 10.77.2.135
  User vagrant
  Port 22
  UserKnownHostsFile /dev/null
  StrictHostKeyChecking no
  PasswordAuthentication no
  IdentityFile /state/vagrant/machines/vnode2/libvirt/private_key
  IdentitiesOnly yes
  LogLevel FATAL
"""


def test_ssh_checks_each_node_against_the_learnt_keys(tmp_path: Path) -> None:
    config = tmp_path / "ssh_config"
    known = tmp_path / "known_hosts"
    config.write_text(host_keys.pinned(VAGRANT, known))
    effective = subprocess.run(["ssh", "-G", "-F", str(config), "vnode2"], capture_output=True, text=True, check=True)
    settings = dict(line.split(" ", 1) for line in effective.stdout.splitlines() if " " in line)
    assert settings["stricthostkeychecking"] in ("true", "yes")
    assert settings["userknownhostsfile"] == str(known)
    assert settings["hostkeyalias"] == "vnode2"
    assert settings["hostname"] == "10.77.2.135" and settings["loglevel"] == "ERROR"


def test_known_hosts_names_each_node_by_name_and_address() -> None:
    keys = {
        "vnode2,10.77.0.12": [HostKey("ssh-ed25519", "AAAA")],
        "nas1,10.77.0.21": [HostKey("ecdsa-sha2-nistp256", "BBBB")],
    }
    assert host_keys.known_hosts(keys) == (
        "vnode2,10.77.0.12 ssh-ed25519 AAAA\nnas1,10.77.0.21 ecdsa-sha2-nistp256 BBBB\n"
    )
