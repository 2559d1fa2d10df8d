"""What a negative control is: a planted fault, the verdicts that must catch it, and the setting it runs in."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from harness.cluster.placement import Placement
from harness.config.budgets import Budget
from harness.lab.handle import Lab
from harness.measure import window
from harness.measure.expectations import Expectations
from harness.measure.record import RunRecord
from harness.probe.observer import Observer


@dataclass
class Setting:
    """What a control's run is given; `prepare` opens its window on the lab as it stands."""

    lab: Lab
    observer: Observer
    record: RunRecord
    budget: Budget
    progress: Callable[[str], None]

    def prepare(self) -> Placement:
        return window.prepare(self.lab, self.observer, self.record, "control")

    def measure(self, label: str, strike: Callable[[], None], end: Placement, migrated_to: str | None = None) -> None:
        """The quiet baseline, the planted fault, the settling; then the clusters' and the disk's account."""
        window.record(self.lab, self.observer, self.record, label, strike, self.progress)
        window.collect(self.lab, self.record, end, migrated_to)


@dataclass(frozen=True)
class Control:
    name: str
    what: str
    catches: frozenset[str]  # verdicts that must fail: the harness saw what was planted
    run: Callable[[Setting], Expectations]
    must_pass: frozenset[str] = frozenset()  # verdicts that must still hold (the measurement itself)
    budget_of: str | None = None  # judge with this scenario's budget (default: the accelerator's)
    tries: int = 1  # a planted fault that may not bite every time is tried up to this often

    def execute(
        self, lab: Lab, observer: Observer, record: RunRecord, budget: Budget, progress: Callable[[str], None]
    ) -> Expectations:
        return self.run(Setting(lab, observer, record, budget, progress))

    def caught(self, failed: set[str], passed: set[str]) -> list[str]:
        """What is wrong with the harness's judgement of this control's run (nothing: it caught the fault)."""
        wrong = [f"{name} passed, but {self.what} must fail it" for name in sorted(self.catches - failed)]
        wrong += [f"{name} failed, but must hold" for name in sorted(self.must_pass - passed)]
        return wrong
