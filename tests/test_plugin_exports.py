"""scenarios/conftest.py hands pytest the plugin's names one by one: a fixture or hook the plugin
defines and the conftest leaves out is silently never used (the known_good revert was, once)."""

from __future__ import annotations

import importlib
import inspect

PLUGIN = ("harness.plugin.fixtures", "harness.plugin.options", "harness.plugin.scenario_runs")


def plugin_names() -> set[str]:
    names = set()
    for module_name in PLUGIN:
        module = importlib.import_module(module_name)
        for name, value in vars(module).items():
            hook = name.startswith("pytest_") and inspect.isfunction(value) and value.__module__ == module_name
            if hook or hasattr(value, "_fixture_function_marker"):  # pytest's mark on a @pytest.fixture
                names.add(name)
    return names


def test_every_fixture_and_hook_of_the_plugin_reaches_pytest() -> None:
    names = plugin_names()
    assert {"known_good", "lab", "pytest_configure"} <= names  # the test sees what it must
    conftest = importlib.import_module("scenarios.conftest")
    missing = sorted(name for name in names if not hasattr(conftest, name))
    assert missing == [], f"add to scenarios/conftest.py: {missing}"
