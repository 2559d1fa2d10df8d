"""The nodes' SSH host keys, learnt out of band and checked on every call after.

At every boot each node prints its host keys and their fingerprints on its serial console
(the box's halab-print-hostkeys), a file only the host reads. The harness learns them there
at bring-up, not from whatever answers first on the management network, and from then on
its SSH (and libvirt over SSH) refuses a node whose key differs, as root SSH between the
vnodes does (provisioning gives them the same known_hosts).
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import pexpect

from harness.errors import HarnessError

MARK = "halab-hostkey"
DONE = "halab-hostkeys-done"
LINE = re.compile(
    rf"{MARK} (?P<type>ssh-ed25519|ecdsa-sha2-nistp256) (?P<key>[A-Za-z0-9+/]+=*)"
    r" (?P<fingerprint>SHA256:[A-Za-z0-9+/]+)"
)
# The keys are printed before sshd starts, and `vagrant up` waits for sshd: by then they are there.
CONSOLE_TIMEOUT_S = 60.0


class HostKeyError(HarnessError):
    """A node's host keys cannot be learnt from its console; the message says what to do."""


@dataclass(frozen=True)
class HostKey:
    type: str
    key: str  # base64, as in known_hosts

    @property
    def fingerprint(self) -> str:
        """As `ssh-keygen -l -E sha256` prints it."""
        digest = hashlib.sha256(base64.b64decode(self.key)).digest()
        return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def parse(console_text: str, node: str, console: Path) -> list[HostKey]:
    """The keys a node printed, each checked against the fingerprint printed beside it: a line the
    console garbled (a kernel message written into it) is refused, not trusted."""
    keys: dict[str, HostKey] = {}
    for match in LINE.finditer(console_text):
        key = HostKey(match["type"], match["key"])
        try:
            fingerprint = key.fingerprint
        except ValueError:
            fingerprint = "(not base64)"
        if fingerprint != match["fingerprint"]:
            raise HostKeyError(
                f"{node}: the {key.type} key on its console ({console}) does not match the fingerprint printed "
                f"beside it ({match['fingerprint']}, the key gives {fingerprint}): the line was garbled or "
                "tampered with. Reboot the node ('vagrant reload') to print it again, or 'ha-lab destroy' and 'up'"
            )
        keys[key.type] = key
    return list(keys.values())


def read_console(node: str, console: Path, timeout: float = CONSOLE_TIMEOUT_S) -> list[HostKey]:
    """Wait (up to `timeout`) for the node's keys on its console log, and return them."""
    # tail -F follows the file from its first line, and waits for it if QEMU has not made it yet.
    child = pexpect.spawn("tail", ["-F", "-n", "+1", str(console)], encoding="utf-8", codec_errors="replace")
    try:
        child.expect_exact(DONE, timeout=timeout)
        printed = child.before or ""
    except (pexpect.TIMEOUT, pexpect.EOF) as err:
        raise HostKeyError(
            f"{node} printed no SSH host keys on its serial console ({console}) within {timeout:.0f} s. A box "
            "made before they were printed there does not print them: 'ha-lab destroy', then 'ha-lab up' "
            "(which builds the box anew)"
        ) from err
    finally:
        child.close(force=True)
    keys = parse(printed, node, console)
    if not keys:
        raise HostKeyError(f"{node}: its console ({console}) ends the host keys but shows none: see the file")
    return keys


def known_hosts(keys: dict[str, list[HostKey]]) -> str:
    """known_hosts lines: each node's keys under the names given (node name, addresses)."""
    return "".join(f"{names} {key.type} {key.key}\n" for names, node_keys in keys.items() for key in node_keys)


def pinned(vagrant_config: str, known_hosts_file: Path) -> str:
    """Vagrant's SSH config with its host key checking turned on: each node's key is looked up
    under the node's name in `known_hosts_file`, and a node whose key differs is refused."""
    out = []
    for line in vagrant_config.splitlines():
        words = line.split()
        # Vagrant's own: no known_hosts, no checking, and LogLevel FATAL, which would hide a refused key.
        if words and words[0] in ("UserKnownHostsFile", "StrictHostKeyChecking", "LogLevel"):
            continue
        out.append(line)
        if len(words) == 2 and words[0] == "Host":
            out.append(f"  HostKeyAlias {words[1]}")
    out += [
        "Host *",
        f"  UserKnownHostsFile {known_hosts_file}",
        "  StrictHostKeyChecking yes",
        "  LogLevel ERROR",
    ]
    return "\n".join(out) + "\n"
