"""The faults: a node dies, the replication link breaks, a migration meets nfsd's grace period.

Each module here defines one `FAULT`: where it strikes, how, and what it reads off the
timeline. `run.run_fault` measures any of them the same way. Adding a fault is adding a module.
"""

from __future__ import annotations

import importlib
import pkgutil

from harness.runs.faults.fault import Fault, Strike
from harness.runs.faults.power import domain
from harness.runs.faults.recovery import wait_for_new_boot
from harness.runs.faults.run import run_fault

FAULTS: dict[str, Fault] = {}
for _module in pkgutil.iter_modules(__path__):
    _found = getattr(importlib.import_module(f"{__name__}.{_module.name}"), "FAULT", None)
    if isinstance(_found, Fault):
        FAULTS[_found.name] = _found

__all__ = ["FAULTS", "Fault", "Strike", "domain", "run_fault", "wait_for_new_boot"]
