"""Negative controls: runs that break the lab on purpose, which the harness must judge as failed.

Each module here defines one `CONTROL`: what it plants, the verdicts that must catch it
and how it runs. Adding a control is adding a module; `CONTROLS` finds it.
"""

from __future__ import annotations

import importlib
import pkgutil

from harness.runs.controls.control import Control

CONTROLS: dict[str, Control] = {}
for _module in pkgutil.iter_modules(__path__):
    _found = getattr(importlib.import_module(f"{__name__}.{_module.name}"), "CONTROL", None)
    if isinstance(_found, Control):  # helper modules define none
        CONTROLS[_found.name] = _found

__all__ = ["CONTROLS", "Control"]
