"""The plugin's measured runs: moves, faults and controls run, judged and reported alike; evidence on failure."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Callable, Iterator
from functools import partial

import pytest

from harness.cluster.placement import Placement
from harness.config.budgets import Budget, BudgetError, load_budget
from harness.judging.breakdown import of_run
from harness.judging.json_report import write_run_json
from harness.judging.png_report import write_run_png
from harness.judging.summary import summary_markdown
from harness.judging.verdicts import Verdict, judge
from harness.lab import evidence
from harness.lab.handle import Lab
from harness.measure.expectations import Expectations
from harness.measure.record import RunRecord
from harness.plugin.session import REPORT_DIR, RUN_FILES, RUNS, run_dir
from harness.probe.observer import Observer, ObserverError
from harness.runs.controls import Control
from harness.runs.faults import Fault, run_fault
from harness.runs.moves import Scenario, run_move

Execute = Callable[[RunRecord, Budget], Expectations]
Accept = Callable[[list[Verdict]], list[str]]  # what is wrong with a run's verdicts (nothing: it passes)


def all_hold(verdicts: list[Verdict]) -> list[str]:
    return [f"{v.name}: {v.detail}" for v in verdicts if not v.ok] or ([] if verdicts else ["no verdict"])


Report = Callable[..., RunRecord]
Progress = Callable[[str], None]
Measure = Callable[["Scenario | Fault", str], RunRecord]


RUNNERS: dict[type, Callable[..., Expectations]] = {Scenario: run_move, Fault: run_fault}


@pytest.fixture
def measured(lab: Lab, observer: Observer, reporter: Report, progress: Progress) -> Measure:
    """Run a move or a fault with the load named ("idle" or "load"); report it; fail on any broken verdict."""

    def run(what: Scenario | Fault, load: str) -> RunRecord:
        runner = partial(RUNNERS[type(what)], lab, observer, what, progress=progress)
        return reporter(what.name, load, getattr(what, "start", None), runner)

    return run


@pytest.fixture
def control(lab: Lab, observer: Observer, reporter: Report, progress: Progress) -> Callable[[Control], RunRecord]:
    """Plant a fault the harness must catch; pass when the named verdicts fail (and the measurement holds)."""

    def run(chosen: Control) -> RunRecord:
        def execute(result: RunRecord, budget: Budget) -> Expectations:
            return chosen.execute(lab, observer, result, budget, progress)

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
    report_dir = run_dir(request.config)

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
        result = RunRecord(name, load_mibs, lab.accel(), before=start, started_from=lab.started_from)
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
            breakdown = of_run(result)
            request.config.stash[RUNS].append(
                {"scenario": name, "load_mibs": load_mibs, "repeat": repeat, "outcome": outcome, "figures": figures,
                 "breakdown": breakdown.markdown() if breakdown else None}
            )  # fmt: skip
            plain = {v.name: ("ok: " if v.ok else "FAILED: ") + v.detail for v in verdicts}
            files = [write_run_json(stem.with_suffix(".json"), result, plain, outcome)]
            if result.samples:
                files.append(write_run_png(stem.with_suffix(".png"), result))
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
        path.write_text(summary_markdown(runs))
        print(f"\nmove report: {path}")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    report = yield
    # A test body or one of its fixtures (the guest, the observer, a placement) that failed.
    if report.failed and call.when in ("setup", "call") and "lab" in getattr(item, "fixturenames", ()):
        lab = getattr(item, "funcargs", {}).get("lab")
        if isinstance(lab, Lab):
            dest = evidence.collect(lab, run_dir(item.config) / "evidence" / item.name)
            for path in item.stash.get(RUN_FILES, []):
                shutil.copy2(path, dest / path.name)
            report.sections.append(("evidence", f"collected in {dest}"))
    return report
