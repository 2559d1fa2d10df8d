"""The plugin's fixtures: the lab (brought up, or reused), the observer, the running guest."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable, Iterator

import pytest

from harness.cluster import placement
from harness.cluster.placement import RunningGuest
from harness.cluster.whole import WHOLE_TIMEOUT_S, wait_whole
from harness.config.budgets import BudgetError, load_budget
from harness.config.lab import REPO
from harness.errors import HarnessError
from harness.host.doctor import DoctorError, examine
from harness.host.fencing import FencingError
from harness.host.guest_image import cache_root
from harness.lab import evidence
from harness.lab.handle import Lab
from harness.lab.ssh import LabError
from harness.plugin.session import CONFIG, progress_printer, run_dir
from harness.probe.observer import Observer
from harness.runs.faults import FAULTS
from harness.runs.moves import SCENARIOS


@pytest.fixture(scope="session")
def lab(request: pytest.FixtureRequest, record_testsuite_property: Callable[[str, object], None]) -> Iterator[Lab]:
    opts = request.config.option
    lab = Lab(request.config.stash[CONFIG], progress=progress_printer(request.config))
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
        _require_budgets(request.config, report.accel)
        new = not lab.exists()
        try:
            lab.up(report.accel, restore=not opts.fresh_lab)
            if new:  # a lab the last run broke is reverted before each move instead
                wait_whole(lab, WHOLE_TIMEOUT_S)
        except HarnessError:
            if lab.exists():  # refused before anything was made: nothing to look at
                evidence.collect(lab, run_dir(request.config) / "evidence" / "bring-up")
            raise
    if opts.reuse_lab:
        _require_budgets(request.config, lab.accel())
        try:
            lab.start_fencing()  # the host's fence_virtd ends with the host session; the clusters need it
        except FencingError as err:
            pytest.exit(f"fencing cannot work: {err}", returncode=2)
    for name, value in run_properties(lab).items():
        record_testsuite_property(name, value)
    yield lab
    if not (was_running or opts.keep_lab or opts.reuse_lab):
        lab.destroy()


def run_properties(lab: Lab) -> dict[str, object]:
    """What the JUnit report says of the whole run: which lab, on what, from which commit, and
    what the lab's bring-up cost (its phases, as the lab recorded them; a reused lab's are older
    than the run)."""
    commit = subprocess.run(
        ["git", "-C", str(REPO), "describe", "--always", "--dirty"], capture_output=True, text=True, check=False
    ).stdout.strip()
    properties: dict[str, object] = {"lab": lab.config.name, "accelerator": lab.accel(), "commit": commit or "unknown"}
    bringup = lab.state_dir / "bringup.json"
    if bringup.exists():
        phases = json.loads(bringup.read_text())
        properties.update({f"bring-up {k} s": v for k, v in phases.items() if k != "accel"})
    return properties


def _require_budgets(config: pytest.Config, accel: str) -> None:
    """The file was checked at start-up; here it must also cover this host's accelerator, before a bring-up."""
    try:
        for name in [*SCENARIOS, *FAULTS]:
            load_budget(accel, name, config.option.budgets)
    except BudgetError as err:
        pytest.exit(str(err), returncode=4)


REVERTED = ("move", "fault", "destructive")  # the runs that start from the kept provisioned lab


@pytest.fixture(autouse=True)
def known_good(request: pytest.FixtureRequest, record_property: Callable[[str, object], None]) -> None:
    """Before each move, fault and control: the lab reverted to the provisioned state kept on this
    host, then checked whole, so a run never inherits what the last one broke (its evidence was
    collected when it failed). --no-revert, or a lab with no kept state, runs on as it is."""
    if request.config.option.no_revert or not any(request.node.get_closest_marker(m) for m in REVERTED):
        return
    lab: Lab = request.getfixturevalue("lab")
    entry = lab.provisioned()
    if entry is None:
        lab.progress("lab: no kept provisioned state for this lab: the run starts where the last one ended")
        return
    started = time.monotonic()
    steps = lab.revert_to(entry.snapshot())
    try:
        wait_whole(lab, WHOLE_TIMEOUT_S)
    except HarnessError as err:
        evidence.collect(lab, run_dir(request.config) / "evidence" / f"revert-{request.node.name}")
        pytest.fail(f"the lab is not whole after a revert to {entry.folder}: {err}", pytrace=False)
    took = time.monotonic() - started
    lab.progress(f"lab: reverted to {entry.folder} and whole in {took:.0f} s (restore {steps.get('restore', 0):.0f} s)")
    record_property("started from", str(entry.folder))
    record_property("revert s", round(took, 1))


@pytest.fixture
def guest(lab: Lab, observer: Observer) -> RunningGuest:
    """The running guest: where it runs and that its probe reports to this test's observer."""
    where = placement.cluster_state(lab, "hv").where(placement.GUEST)
    if len(where) != 1:
        pytest.fail(f"the guest runs on {where or 'no vnode'}, not on exactly one: see 'crm_mon' on a vnode")
    try:
        first = observer.wait_for_heartbeat(60)
    except TimeoutError as err:
        pytest.fail(
            f"the guest on {where[0]} sends no heartbeats: {err}; its console: /var/log/halab/guest-console.log"
        )
    return RunningGuest(where[0], first.hb.boot_id)


@pytest.fixture
def repeat() -> int:
    """Which of the --repeat runs this is (parametrized by pytest_generate_tests)."""
    return 1


@pytest.fixture
def observer(lab: Lab) -> Iterator[Observer]:
    # Only the guest's address: a well-formed heartbeat from elsewhere is counted and dropped.
    with Observer(lab.config.host_ip, lab.config.observer_port, guest=lab.config.guest_ip) as observer:
        yield observer


@pytest.fixture
def progress(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """Lines shown as a run goes, past pytest's capture."""
    return progress_printer(request.config)
