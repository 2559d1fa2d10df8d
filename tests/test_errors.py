"""One error base, one way to wait: what the CLI and the plugin can catch, and a timeout that says why."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import harness
from harness import cli
from harness.errors import HarnessError
from harness.host.cluster_files import ClusterSetupError
from harness.waiting import NotYet, WaitTimeout, wait_for

SIGNALS = {"harness.waiting.NotYet"}  # a check's "not yet", never raised out of wait_for


def harness_exceptions() -> list[type[BaseException]]:
    found = []
    for module in pkgutil.walk_packages(harness.__path__, "harness."):
        if module.name.endswith("__main__"):
            continue  # running it is the CLI
        loaded = importlib.import_module(module.name)
        for _, cls in inspect.getmembers(loaded, inspect.isclass):
            if issubclass(cls, BaseException) and cls.__module__ == loaded.__name__:
                found.append(cls)
    return found


def test_every_error_the_harness_defines_has_the_one_base() -> None:
    errors = [cls for cls in harness_exceptions() if f"{cls.__module__}.{cls.__qualname__}" not in SIGNALS]
    assert len(errors) >= 14  # the walk found them: an empty list would pass the check below
    assert [cls.__qualname__ for cls in errors if not issubclass(cls, HarnessError)] == []


def test_the_cli_reports_any_harness_error_without_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def fails(_args: object) -> int:
        raise ClusterSetupError("pcs could not write corosync.conf for nas: run 'ha-lab doctor --fix'")

    monkeypatch.setattr(cli, "_doctor", fails)
    assert cli.main(["doctor"]) == 2
    err = capsys.readouterr().err
    assert err == "ha-lab: pcs could not write corosync.conf for nas: run 'ha-lab doctor --fix'\n"


def test_the_cli_lets_a_bug_keep_its_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    def bug(_args: object) -> int:
        raise KeyError("not the user's to fix")

    monkeypatch.setattr(cli, "_doctor", bug)
    with pytest.raises(KeyError):
        cli.main(["doctor"])


def test_a_timeout_names_what_was_awaited_and_the_last_cause() -> None:
    causes = iter(["DRBD Connecting", "DRBD WFConnection"])

    def check() -> bool:
        raise NotYet(next(causes, "DRBD StandAlone"))

    with pytest.raises(WaitTimeout, match=r"^DRBD healthy: not within 0 s; last: DRBD StandAlone$"):
        wait_for("DRBD healthy", 0.05, check, every_s=0.01)


def test_a_harness_error_is_retried_and_kept_as_the_cause() -> None:
    def check() -> bool:
        raise ClusterSetupError("nas2: 'crm_mon' failed (exit 102):\nnot connected")

    with pytest.raises(WaitTimeout, match=r"last: ClusterSetupError: nas2: 'crm_mon' failed \(exit 102\):$"):
        wait_for("the cluster", 0.05, check, every_s=0.01)


def test_an_error_outside_retry_on_ends_the_wait_at_once() -> None:
    calls = []

    def check() -> bool:
        calls.append(1)
        raise ClusterSetupError("QEMU exited")

    with pytest.raises(ClusterSetupError):
        wait_for("QMP", 10, check, every_s=0.01, retry_on=())
    assert calls == [1]


def test_a_condition_that_holds_ends_the_wait() -> None:
    answers = iter([False, False, True])
    assert wait_for("the third try", 5, lambda: next(answers), every_s=0.01) < 5


def test_a_timeout_is_a_timeout_error_for_callers_that_catch_one() -> None:
    with pytest.raises(TimeoutError):
        wait_for("never", 0.02, lambda: False, every_s=0.01)
