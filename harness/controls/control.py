"""What a negative control is: a planted fault, and the verdicts that must catch it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from harness.budgets import Budget
from harness.expectations import Expectations
from harness.lab import Lab
from harness.observer import Observer
from harness.run_record import RunRecord

Runner = Callable[[Lab, Observer, RunRecord, Budget, Callable[[str], None]], Expectations]


@dataclass(frozen=True)
class Control:
    name: str
    what: str
    catches: frozenset[str]  # verdicts that must fail: the harness saw what was planted
    run: Runner
    must_pass: frozenset[str] = frozenset()  # verdicts that must still hold (the measurement itself)
    budget_of: str | None = None  # judge with this scenario's budget (default: the accelerator's)
    tries: int = 1  # a planted fault that may not bite every time is tried up to this often

    def caught(self, failed: set[str], passed: set[str]) -> list[str]:
        """What is wrong with the harness's judgement of this control's run (nothing: it caught the fault)."""
        wrong = [f"{name} passed, but {self.what} must fail it" for name in sorted(self.catches - failed)]
        wrong += [f"{name} failed, but must hold" for name in sorted(self.must_pass - passed)]
        return wrong
