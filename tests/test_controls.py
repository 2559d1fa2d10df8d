"""The negative controls without a lab: each is found, names verdicts that exist, and is judged by them."""

from __future__ import annotations

import shlex

from harness.judging import verdicts
from harness.runs.controls import CONTROLS
from harness.runs.controls.freeze import pause_command

VERDICT_NAMES = {value for name, value in vars(verdicts).items() if name.isupper() and isinstance(value, str)}


def test_every_control_module_is_found_and_names_real_verdicts() -> None:
    assert sorted(CONTROLS) == ["disk_gone", "freeze", "lost_writes", "not_live", "restart"]
    for control in CONTROLS.values():
        assert control.catches, control.name
        assert control.catches | control.must_pass <= VERDICT_NAMES, control.name


def test_a_control_passes_only_when_its_verdicts_fail_and_its_measurement_holds() -> None:
    freeze = CONTROLS["freeze"]
    assert freeze.caught(failed={verdicts.FREEZE}, passed={verdicts.PLANTED}) == []
    missed = freeze.caught(failed=set(), passed={verdicts.FREEZE, verdicts.PLANTED})
    assert missed == [f"{verdicts.FREEZE} passed, but {freeze.what} must fail it"]
    assert freeze.caught(failed={verdicts.FREEZE, verdicts.PLANTED}, passed=set()) == [
        f"{verdicts.PLANTED} failed, but must hold"
    ]


def test_the_pause_is_timed_in_one_shell_on_the_vnode() -> None:
    words = shlex.split(pause_command(8.0))
    assert words[:3] == ["sudo", "sh", "-c"]
    assert words[3] == "pid=$(cat /run/libvirt/qemu/guest.pid) && kill -STOP $pid && sleep 8.000; kill -CONT $pid"
