"""The end-to-end scenarios' pytest plugin (harness/plugin/): a lab, the guest, an observer, measured runs.

    --reuse-lab   use the running lab as it is (no bring-up, no provisioning)
    --keep-lab    leave a lab this run brought up running afterwards
A lab that was already running when the run started is never destroyed.

Names only: pytest finds hooks and fixtures among a conftest's names, and this works
however the scenarios are selected (unlike `pytest_plugins` outside the root conftest).
"""

from harness.plugin.fixtures import guest, known_good, lab, observer, progress, repeat
from harness.plugin.options import (
    pytest_addoption,
    pytest_collection_finish,
    pytest_collection_modifyitems,
    pytest_configure,
    pytest_deselected,
    pytest_generate_tests,
)
from harness.plugin.scenario_runs import (
    control,
    measured,
    pytest_runtest_makereport,
    pytest_sessionfinish,
    reporter,
)

__all__ = [
    "control",
    "guest",
    "known_good",
    "lab",
    "measured",
    "observer",
    "progress",
    "pytest_addoption",
    "pytest_collection_finish",
    "pytest_collection_modifyitems",
    "pytest_configure",
    "pytest_deselected",
    "pytest_generate_tests",
    "pytest_runtest_makereport",
    "pytest_sessionfinish",
    "repeat",
    "reporter",
]
