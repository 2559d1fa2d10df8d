"""The plugin's options and collection: the lab's flags, bad input refused before anything runs, the run order."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.config.budgets import DEFAULT_PATH as DEFAULT_BUDGETS
from harness.config.budgets import BudgetError, check_file
from harness.config.lab import LabConfig, LabConfigError
from harness.plugin.session import CONFIG, DESELECTED, LOAD_MIBS, RUNS
from harness.runs.faults import FAULTS
from harness.runs.moves import SCENARIOS


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("lab")
    group.addoption("--lab-config", type=Path, default=None, help="lab config file (default lab.toml)")
    group.addoption("--lab-name", default=None, help="lab name (overrides the config)")
    group.addoption("--reuse-lab", action="store_true", help="use the running lab as is")
    group.addoption("--keep-lab", action="store_true", help="keep a lab this run brought up")
    group.addoption(
        "--no-revert",
        action="store_true",
        help="run each move, fault and control on the lab as the last one left it, not reverted to the kept "
        "provisioned lab first",
    )
    group.addoption(
        "--fresh-lab", action="store_true", help="provision a new lab even if a provisioned one is kept on this host"
    )
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
    # A parametrized test is selected by its parameters too (test_move[nas_move-idle]).
    params = sorted(
        {value for item in deselected for value in getattr(getattr(item, "callspec", None), "params", {}).values()
         if isinstance(value, str)}
    )  # fmt: skip
    chosen = " ".join(
        f"{flag} {value!r}" for flag, value in (("-k", config.option.keyword), ("-m", config.option.markexpr)) if value
    )
    raise pytest.UsageError(
        f"{chosen} selects no test; the tests are: {', '.join(names)}; their parameters: {', '.join(params)} "
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
    "test_known_good",
    "test_teardown",  # destroys the lab (and brings it back): last
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Modules from the least to the most disturbing; the moves along the seed's cycle, idle runs first,
    so each one starts where the last ended."""
    order = list(SCENARIOS)

    def key(item: pytest.Item) -> tuple[int, int, int, int]:
        module = item.module.__name__.rsplit(".", 1)[-1] if getattr(item, "module", None) else ""
        rank = MODULE_ORDER.index(module) if module in MODULE_ORDER else len(MODULE_ORDER)
        params = getattr(item, "callspec", None)
        name = params.params.get("scenario") if params is not None else None
        if params is None or name not in SCENARIOS:
            return (rank, 0, 0, 0)
        load = params.params.get("load", "idle")
        return (rank, params.params.get("repeat", 1), 0 if load == "idle" else 1, order.index(name) + 1)

    items.sort(key=key)  # stable: tests of one module keep their order
