"""What a move may cost the guest, per accelerator and scenario, from one TOML file.

[kvm]                     # defaults for every scenario on this accelerator
freeze_ms = 300
disk_stall_ms = 15000
[tcg.nas_move]            # one scenario's own figures override the defaults
freeze_ms = 2000
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from pathlib import Path

from harness.config.lab import REPO
from harness.errors import HarnessError

DEFAULT_PATH = REPO / "scenarios" / "budgets.toml"
FIELDS = ("freeze_ms", "disk_stall_ms")


class BudgetError(HarnessError, ValueError):
    """A budgets file that cannot be used; the message says what to change."""


@dataclass(frozen=True)
class Budget:
    freeze_ms: float  # largest heartbeat gap less one interval, host clock
    disk_stall_ms: float  # longest time without a newly acknowledged disk record, host clock


ACCELERATORS = ("kvm", "tcg")


def _read(path: Path) -> dict[str, object]:
    try:
        return tomllib.loads(path.read_text())
    except FileNotFoundError as err:
        raise BudgetError(f"no budgets file at {path}: pass --budgets with a file like {DEFAULT_PATH}") from err
    except tomllib.TOMLDecodeError as err:
        raise BudgetError(f"{path} is not valid TOML: {err}") from err


def check_file(path: Path | None, scenarios: list[str]) -> None:
    """Refuse a budgets file with a typo or a bad value before the lab is touched, not an hour into a run."""
    path = path or DEFAULT_PATH
    document = _read(path)
    unknown = sorted(set(document) - set(ACCELERATORS))
    if unknown:
        raise BudgetError(f"{path}: unknown section(s) {unknown}; the accelerators are {', '.join(ACCELERATORS)}")
    if not document:
        raise BudgetError(f"{path} sets no budgets: add a [kvm] and a [tcg] section with {' and '.join(FIELDS)}")
    for accel, section in document.items():
        if not isinstance(section, dict):
            raise BudgetError(f"{path}: {accel} must be a section [{accel}], not a value")
        for key, value in section.items():
            if isinstance(value, dict):
                if key not in scenarios:
                    raise BudgetError(f"{path}: [{accel}.{key}] names no scenario; the scenarios are {scenarios}")
                bad = sorted(set(value) - set(FIELDS))
                if bad:
                    raise BudgetError(f"{path}: [{accel}.{key}] unknown key(s) {bad}; known: {', '.join(FIELDS)}")
            elif key not in FIELDS:
                raise BudgetError(f"{path}: [{accel}] unknown key {key!r}; known: {', '.join(FIELDS)}")
        for scenario in scenarios:
            _budget(document, path, accel, scenario)


def load_budget(accel: str, scenario: str, path: Path | None = None) -> Budget:
    path = path or DEFAULT_PATH
    return _budget(_read(path), path, accel, scenario)


def _budget(document: dict[str, object], path: Path, accel: str, scenario: str) -> Budget:
    section = document.get(accel)
    if not isinstance(section, dict):
        raise BudgetError(f"{path} has no [{accel}] section: add one with {' and '.join(FIELDS)}")
    values: dict[str, float] = {}
    for where, table in ((f"[{accel}]", section), (f"[{accel}.{scenario}]", section.get(scenario, {}))):
        for field in FIELDS:
            if field in table:
                values[field] = _number(path, where, field, table[field])
    missing = [f for f in FIELDS if f not in values]
    if missing:
        raise BudgetError(f"{path} sets no {', '.join(missing)} for {accel} (in [{accel}] or [{accel}.{scenario}])")
    return Budget(**values)


def _number(path: Path, where: str, field: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
        raise BudgetError(f"{path}: {where} {field} must be a positive number of milliseconds, not {value!r}")
    return float(value)
