from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import libvirt
import pytest

from harness.host.guest_image import GuestImage, GuestImageError, build_guest_image, build_probe


def need(tool: str, package: str) -> None:
    """Skip without `tool`, except in CI, which installs everything and must never skip."""
    if shutil.which(tool):
        return
    message = f"{tool} not found: install {package} (bash bootstrap.sh does)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def probe_binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    need("gcc", "gcc and libc6-dev")
    return build_probe(tmp_path_factory.mktemp("probe") / "probe")


@pytest.fixture(scope="session")
def guest_image() -> GuestImage:
    need("apt-get", "apt")
    need("depmod", "kmod")
    need("cpio", "cpio")
    try:
        return build_guest_image(progress=lambda line: print(line))
    except GuestImageError as err:
        pytest.fail(str(err))


@pytest.fixture
def conn(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[libvirt.virConnect]:
    """libvirt's test driver in place of the host's libvirt (harness.host.domains' connection, which
    harness.host.snapshots uses too), and the snapshots under tmp_path; left as it started."""
    from harness.host import domains
    from tests.test_snapshots import TEST_URI, clean

    need("qemu-img", "qemu-utils")
    monkeypatch.setattr(domains, "URI", TEST_URI)
    monkeypatch.setenv("HA_LAB_SNAPSHOTS", str(tmp_path / "snapshots"))
    conn = libvirt.open(TEST_URI)
    yield conn
    clean(conn)
    conn.close()
