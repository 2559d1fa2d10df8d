"""Fixtures of the end-to-end scenarios: a lab, the guest, an observer.

    --reuse-lab   use the running lab as it is (no bring-up, no provisioning)
    --keep-lab    leave a lab this run brought up running afterwards
A lab that was already running when the run started is never destroyed.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from harness import evidence, move_report, placement
from harness.budgets import DEFAULT_PATH as DEFAULT_BUDGETS
from harness.budgets import Budget, BudgetError, check_file, load_budget
from harness.controls import Control
from harness.doctor import DoctorError, examine
from harness.expectations import Expectations
from harness.faults import FAULTS, Fault, run_fault
from harness.fencing import FencingError
from harness.guest_image import cache_root
from harness.lab import Lab, LabError
from harness.lab_config import REPO, LabConfig, LabConfigError
from harness.moves import SCENARIOS, Scenario, run_move
from harness.observer import Observer, ObserverError
from harness.placement import Placement, RunningGuest
from harness.run_record import RunRecord
from harness.verdicts import Verdict, judge

ARTIFACTS = REPO / "artifacts"
LOAD_MIBS = 8  # converges under TCG here (docs/results); the seed's guest plays a video
RUNS = pytest.StashKey[list[dict[str, Any]]]()
REPORT_DIR = pytest.StashKey[Path]()
RUN_FILES = pytest.StashKey[list[Path]]()  # a move's JSON and PNG, copied into its evidence on failure
CONFIG = pytest.StashKey[LabConfig]()
DESELECTED = pytest.StashKey[list[pytest.Item]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("lab")
    group.addoption("--lab-config", type=Path, default=None, help="lab config file (default lab.toml)")
    group.addoption("--lab-name", default=None, help="lab name (overrides the config)")
    group.addoption("--reuse-lab", action="store_true", help="use the running lab as is")
    group.addoption("--keep-lab", action="store_true", help="keep a lab this run brought up")
    group.addoption("--repeat", type=int, default=1, help="run each move N times (p50/p95 in the summary)")
    group.addoption("--budgets", type=Path, default=None, help=f"budgets file (default {DEFAULT_BUDGETS})")
    group.addoption(
        "--load-mibs", type=int, default=LOAD_MIBS, help=f"memory load of the 'load' runs, MiB/s (default {LOAD_MIBS})"
    )


def pytest_configure(config: pytest.Config) -> None:
    if config.option.repeat < 1:
        raise pytest.UsageError(f"--repeat wants 1 or more, not {config.option.repeat}")
    if config.option.load_mibs < 1:
        raise pytest.UsageError(f"--load-mibs wants 1 or more MiB/s, not {config.option.load_mibs}")
    # Bad input is refused here, before the doctor, a bring-up or a move touches the host.
    try:
        config.stash[CONFIG] = LabConfig.load(config.option.lab_config, name=config.option.lab_name)
        check_file(config.option.budgets, [*SCENARIOS, *FAULTS])
    except (LabConfigError, BudgetError) as err:
        raise pytest.UsageError(str(err)) from err
    config.stash[RUNS] = []


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "repeat" in metafunc.fixturenames:
        count = metafunc.config.option.repeat
        metafunc.parametrize("repeat", range(1, count + 1), ids=[f"run{i}" for i in range(1, count + 1)])


def pytest_deselected(items: list[pytest.Item]) -> None:
    if items:
        items[0].config.stash.setdefault(DESELECTED, []).extend(items)


def pytest_collection_finish(session: pytest.Session) -> None:
    """A -k or -m that matches nothing is a typo: name the tests there are instead of running none."""
    config = session.config
    deselected = config.stash.get(DESELECTED, [])
    if session.items or not deselected:
        return
    names = sorted({getattr(item, "originalname", item.name) for item in deselected})
    chosen = " ".join(
        f"{flag} {value!r}" for flag, value in (("-k", config.option.keyword), ("-m", config.option.markexpr)) if value
    )
    raise pytest.UsageError(
        f"{chosen} selects no test; the tests are: {', '.join(names)} "
        "(for example -k nas_move, or -k 'hypervisor_move and idle')"
    )


# The least disturbing first: a failed smoke test says the lab is broken before anything else runs.
MODULE_ORDER = (
    "test_lab_smoke",
    "test_lab_guards",
    "test_security",
    "test_fencing",
    "test_moves",
    "test_controls",
    "test_faults",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Modules from the least to the most disturbing; the moves along the seed's cycle, idle runs first,
    so each one starts where the last ended."""
    order = list(SCENARIOS)

    def key(item: pytest.Item) -> tuple[int, int, int, int]:
        module = item.module.__name__.rsplit(".", 1)[-1] if getattr(item, "module", None) else ""
        rank = MODULE_ORDER.index(module) if module in MODULE_ORDER else len(MODULE_ORDER)
        params = getattr(item, "callspec", None)
        name = getattr(item, "originalname", item.name).removeprefix("test_")
        if params is None or name not in SCENARIOS:
            return (rank, 0, 0, 0)
        load = params.params.get("load", "idle")
        return (rank, params.params.get("repeat", 1), 0 if load == "idle" else 1, order.index(name) + 1)

    items.sort(key=key)  # stable: tests of one module keep their order


@pytest.fixture(scope="session")
def lab(request: pytest.FixtureRequest) -> Iterator[Lab]:
    opts = request.config.option
    lab = Lab(request.config.stash[CONFIG], progress=_progress_printer(request.config))
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
        lab.up(report.accel)
    if opts.reuse_lab:
        _require_budgets(request.config, lab.accel())
        try:
            lab.start_fencing()  # the host's fence_virtd ends with the host session; the clusters need it
        except FencingError as err:
            pytest.exit(f"fencing cannot work: {err}", returncode=2)
    yield lab
    if not (was_running or opts.keep_lab or opts.reuse_lab):
        lab.destroy()


def _require_budgets(config: pytest.Config, accel: str) -> None:
    """The file was checked at start-up; here it must also cover this host's accelerator, before a bring-up."""
    try:
        for name in [*SCENARIOS, *FAULTS]:
            load_budget(accel, name, config.option.budgets)
    except BudgetError as err:
        pytest.exit(str(err), returncode=4)


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


Execute = Callable[[RunRecord, Budget], Expectations]
Accept = Callable[[list[Verdict]], list[str]]  # what is wrong with a run's verdicts (nothing: it passes)


def all_hold(verdicts: list[Verdict]) -> list[str]:
    return [f"{v.name}: {v.detail}" for v in verdicts if not v.ok] or ([] if verdicts else ["no verdict"])


Report = Callable[..., RunRecord]


@pytest.fixture
def move(
    lab: Lab, observer: Observer, request: pytest.FixtureRequest, reporter: Report
) -> Callable[[Scenario, str], RunRecord]:
    """Run a scenario with the load named ("idle" or "load"); report it; fail on any broken verdict."""

    def run(scenario: Scenario, load: str) -> RunRecord:
        def execute(result: RunRecord, budget: Budget) -> Expectations:
            return run_move(lab, observer, scenario, result, budget, _progress_printer(request.config))

        return reporter(scenario.name, load, scenario.start, execute)

    return run


@pytest.fixture
def fault(
    lab: Lab, observer: Observer, request: pytest.FixtureRequest, reporter: Report
) -> Callable[[Fault, str], RunRecord]:
    """Strike with a fault, the guest idle or loaded; report it like a move; fail on any broken verdict."""

    def run(chosen: Fault, load: str) -> RunRecord:
        def execute(result: RunRecord, budget: Budget) -> Expectations:
            return run_fault(lab, observer, chosen, result, budget, _progress_printer(request.config))

        return reporter(chosen.name, load, None, execute)

    return run


@pytest.fixture
def control(
    lab: Lab, observer: Observer, request: pytest.FixtureRequest, reporter: Report
) -> Callable[[Control], RunRecord]:
    """Plant a fault the harness must catch; pass when the named verdicts fail (and the measurement holds)."""
    progress = _progress_printer(request.config)

    def run(chosen: Control) -> RunRecord:
        def execute(result: RunRecord, budget: Budget) -> Expectations:
            return chosen.run(lab, observer, result, budget, progress)

        def caught(verdicts: list[Verdict]) -> list[str]:
            failed = {v.name for v in verdicts if not v.ok}
            return chosen.caught(failed, {v.name for v in verdicts if v.ok})

        name = f"control_{chosen.name}"
        for attempt in range(1, chosen.tries):
            try:
                return reporter(name, "idle", None, execute, budget_of=chosen.budget_of, accept=caught, attempt=attempt)
            except AssertionError:
                progress(f"  control {chosen.name}: not caught on try {attempt} of {chosen.tries}; again")
        return reporter(name, "idle", None, execute, budget_of=chosen.budget_of, accept=caught, attempt=chosen.tries)

    return run


@pytest.fixture
def reporter(
    lab: Lab,
    observer: Observer,
    repeat: int,
    request: pytest.FixtureRequest,
    record_property: Callable[[str, object], None],
) -> Report:
    """Run one measured scenario and report it: JSON, PNG, JUnit properties, the summary's row."""
    opts = request.config.option
    report_dir = request.config.stash.setdefault(REPORT_DIR, ARTIFACTS / f"moves-{_stamp()}")
    report_dir.mkdir(parents=True, exist_ok=True)

    def report(
        name: str,
        load: str,
        start: Placement | None,
        execute: Execute,
        budget_of: str | None = None,
        accept: Accept = all_hold,
        attempt: int = 1,
    ) -> RunRecord:
        try:
            budget = load_budget(lab.accel(), budget_of or name, opts.budgets)
        except BudgetError as err:
            pytest.exit(str(err), returncode=4)
        load_mibs = opts.load_mibs if load == "load" else 0
        result = RunRecord(name, load_mibs, lab.accel(), before=start)
        verdicts: list[Verdict] = []
        wrong = ["the run did not finish"]
        stem = report_dir / (f"{name}-{load}-run{repeat}" + (f"-try{attempt}" if attempt > 1 else ""))
        try:
            expect = execute(result, budget)
            verdicts = judge(result, expect)
            wrong = accept(verdicts)
        except ObserverError as err:
            result.notes.append(f"harness error, no verdict on the guest: {err}")
            raise
        finally:
            figures = result.figures()
            for key, value in figures.items():
                record_property(key, value)
            outcome = _outcome(result, wrong)
            request.config.stash[RUNS].append(
                {"scenario": name, "load_mibs": load_mibs, "repeat": repeat, "outcome": outcome, "figures": figures}
            )
            plain = {v.name: ("ok: " if v.ok else "FAILED: ") + v.detail for v in verdicts}
            files = [move_report.write_json(stem.with_suffix(".json"), result, plain, outcome)]
            if result.samples:
                files.append(move_report.write_png(stem.with_suffix(".png"), result))
            request.node.stash[RUN_FILES] = files
            # A stopped or paused guest cannot take it; the report already says why.
            with contextlib.suppress(TimeoutError):
                observer.set_load(0)
        assert not wrong, "\n".join(wrong)
        return result

    return report


def _outcome(result: RunRecord, wrong: list[str]) -> str:
    if any(note.startswith("harness error") for note in result.notes):
        return "harness error"
    if result.kind == "control":
        return "caught" if not wrong else "missed"
    return "passed" if not wrong else "failed"


def pytest_sessionfinish(session: pytest.Session) -> None:
    runs = session.config.stash.get(RUNS, [])
    report_dir = session.config.stash.get(REPORT_DIR, None)
    if runs and report_dir is not None:
        path = report_dir / "summary.md"
        path.write_text(move_report.summary_markdown(runs))
        print(f"\nmove report: {path}")


def _stamp() -> str:
    return datetime.datetime.now().strftime("%Y%m%dT%H%M%S")


def _progress_printer(config: pytest.Config) -> Callable[[str], None]:
    """Print past pytest's output capture: a bring-up takes many minutes and should show its phases."""
    capture = config.pluginmanager.getplugin("capturemanager")

    def show(line: str) -> None:
        if capture is None:
            print(line, flush=True)
            return
        with capture.global_and_fixture_disabled():
            print(line, flush=True)

    return show


@pytest.fixture
def observer(lab: Lab) -> Iterator[Observer]:
    # Only the guest's address: a well-formed heartbeat from elsewhere is counted and dropped.
    with Observer(lab.config.host_ip, lab.config.observer_port, guest=lab.config.guest_ip) as observer:
        yield observer


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    report = yield
    if report.failed and call.when == "call" and "lab" in getattr(item, "fixturenames", ()):
        lab = item.funcargs.get("lab")
        if isinstance(lab, Lab):
            dest = evidence.collect(lab, ARTIFACTS / f"{_stamp()}-{item.name}")
            for path in item.stash.get(RUN_FILES, []):
                shutil.copy2(path, dest / path.name)
            report.sections.append(("evidence", f"collected in {dest}"))
    return report
