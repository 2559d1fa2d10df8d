from __future__ import annotations

import os
import shutil
from pathlib import Path

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
