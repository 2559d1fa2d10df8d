"""Fixtures of the end-to-end scenarios: a lab, the guest, an observer.

    --reuse-lab   use the running lab as it is (no bring-up, no provisioning)
    --keep-lab    leave a lab this run brought up running afterwards
A lab that was already running when the run started is never destroyed.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness import evidence
from harness.doctor import DoctorError, examine
from harness.guest_image import cache_root
from harness.lab import Lab, LabError
from harness.lab_config import REPO, LabConfig
from harness.observer import Observer

ARTIFACTS = REPO / "artifacts"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("lab")
    group.addoption("--lab-config", type=Path, default=None, help="lab config file (default lab.toml)")
    group.addoption("--lab-name", default=None, help="lab name (overrides the config)")
    group.addoption("--reuse-lab", action="store_true", help="use the running lab as is")
    group.addoption("--keep-lab", action="store_true", help="keep a lab this run brought up")


@pytest.fixture(scope="session")
def lab(request: pytest.FixtureRequest) -> Iterator[Lab]:
    opts = request.config.option
    config = LabConfig.load(opts.lab_config, name=opts.lab_name)
    lab = Lab(config, progress=lambda line: print(line, flush=True))
    was_running = lab.running()
    if opts.reuse_lab:
        try:
            lab.require_running()
        except LabError as err:
            pytest.exit(str(err), returncode=2)
    else:
        try:
            report = examine(cache_root(), fix=os.geteuid() == 0)
        except DoctorError as err:
            pytest.exit(f"host not ready for the lab: {err}", returncode=2)
        print(report.table())
        lab.up(report.accel)
    yield lab
    if not (was_running or opts.keep_lab or opts.reuse_lab):
        lab.destroy()


@pytest.fixture
def observer(lab: Lab) -> Iterator[Observer]:
    with Observer(lab.config.host_ip, lab.config.observer_port) as observer:
        yield observer


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    report = yield
    if report.failed and call.when == "call" and "lab" in getattr(item, "fixturenames", ()):
        lab = item.funcargs.get("lab")
        if isinstance(lab, Lab):
            stamp = datetime.datetime.now().strftime("%Y%m%dT%H%M%S")
            dest = evidence.collect(lab, ARTIFACTS / f"{stamp}-{item.name}")
            report.sections.append(("evidence", f"collected in {dest}"))
    return report
