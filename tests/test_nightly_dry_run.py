"""The nightly workflow's dry run (.ci/nightly_dry_run.py): it reads the steps as a runner
would, runs them as GitHub would, and sees what a run leaves behind."""

from __future__ import annotations

import dataclasses
import importlib.util
import sys
import textwrap
import time
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / ".ci" / "nightly_dry_run.py"
_spec = importlib.util.spec_from_file_location("nightly_dry_run", SCRIPT)
assert _spec and _spec.loader
dry = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = dry  # dataclasses look their module up there
_spec.loader.exec_module(dry)


def _workflow(tmp_path: Path, steps: str, env: str = "{}") -> Path:
    path = tmp_path / "wf.yml"
    path.write_text(
        textwrap.dedent(
            """\
            on:
              workflow_dispatch:
                inputs:
                  selection: {default: ""}
            jobs:
              e2e:
                timeout-minutes: 1
                env: %s
                steps:
            """
        )
        % env
        + textwrap.indent(textwrap.dedent(steps), " " * 6)
    )
    return path


def test_the_nightly_workflow_is_read_in_order_with_its_input_filled_in() -> None:
    job = dry.load(dry.WORKFLOW, {"selection": "test_move"})
    names = [s.name for s in job.steps]
    assert job.steps[0].uses and job.steps[0].uses.startswith("actions/checkout")
    assert names.index("Destroy what an earlier run left") < names.index("Run the scenarios")
    assert names[-1] == "Destroy the lab" and job.steps[-1].always
    run_step = job.steps[names.index("Run the scenarios")]
    assert run_step.env["SELECTION"] == "test_move" and not run_step.always
    assert job.env["HA_LAB_STATE"].startswith("/")


def test_an_input_the_workflow_does_not_declare_is_refused() -> None:
    with pytest.raises(dry.DryRunError, match="unknown input"):
        dry.load(dry.WORKFLOW, {"selecton": "x"})


def test_an_expression_it_cannot_evaluate_is_refused(tmp_path: Path) -> None:
    path = _workflow(tmp_path, "- run: echo ${{ github.sha }}\n")
    with pytest.raises(dry.DryRunError, match=r"github\.sha"):
        dry.load(path, {})


def test_after_a_failed_step_only_the_always_steps_run(tmp_path: Path) -> None:
    steps = """\
        - name: fails
          run: |
            false
            echo never
        - name: skipped
          run: echo skipped >> "$GITHUB_STEP_SUMMARY"
        - name: cleanup
          if: always()
          env: {WHAT: "${{ inputs.selection }}"}
          run: echo "cleaned $WHAT $FROM_JOB" >> "$GITHUB_STEP_SUMMARY"
        """
    job = dry.load(_workflow(tmp_path, steps, env="{FROM_JOB: job}"), {"selection": "all"})
    logs, workspace, summary = tmp_path / "logs", tmp_path / "ws", tmp_path / "summary.md"
    logs.mkdir()
    workspace.mkdir()
    results = dry.run(job, workspace, logs, summary)
    assert [(name, outcome.split(" ")[0]) for name, outcome, _ in results] == [
        ("fails", "failed"),
        ("skipped", "skipped"),
        ("cleanup", "passed"),
    ]
    assert summary.read_text() == "cleaned all job\n"  # -e stopped the first step at `false`
    assert "never" not in (logs / "step-01.log").read_text()


def test_what_a_run_made_and_left_is_reported_but_the_box_volume_is_not() -> None:
    before = {"domains": {"other"}, "volumes": set(), "processes": set()}
    after = {
        "domains": {"other", "ha-lab_vnode2"},
        "volumes": {"default/halab-debian12-abc_vagrant_box_image_0_1_box.img", "default/ha-lab_nas1.img"},
        "processes": {"fence_virtd (pid 7)"},
    }
    assert dry.left_behind(before, after) == [
        "domains: ha-lab_vnode2",
        "volumes: default/ha-lab_nas1.img",
        "processes: fence_virtd (pid 7)",
    ]
    assert dry.left_behind(after, after) == []


def test_the_steps_do_not_see_the_tox_that_runs_the_dry_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIRTUAL_ENV", "/w/.tox/nightly-dry-run")
    monkeypatch.setenv("TOX_WORK_DIR", "/w/.tox")
    monkeypatch.setenv("PATH", "/w/.tox/nightly-dry-run/bin:/usr/bin")
    env = dry.runner_environment()
    assert env["PATH"] == "/usr/bin"
    assert "VIRTUAL_ENV" not in env and "TOX_WORK_DIR" not in env


def _run_with_timeout(
    tmp_path: Path, steps: str, timeout_minutes: float
) -> tuple[list[tuple[str, str, float]], Path, Path]:
    job = dataclasses.replace(dry.load(_workflow(tmp_path, steps), {}), timeout_minutes=timeout_minutes)
    logs, workspace, summary = tmp_path / "logs", tmp_path / "ws", tmp_path / "summary.md"
    logs.mkdir()
    workspace.mkdir()
    return dry.run(job, workspace, logs, summary), logs, summary


def test_a_step_past_the_jobs_timeout_is_ended_with_its_children(tmp_path: Path) -> None:
    steps = """\
        - name: hangs
          run: sleep 60 | cat
        - name: cleanup
          if: always()
          run: echo cleaned >> "$GITHUB_STEP_SUMMARY"
        """
    started = time.monotonic()
    results, logs, summary = _run_with_timeout(tmp_path, steps, timeout_minutes=0.02)
    assert time.monotonic() - started < 30
    # As on GitHub, the always() steps still run after the job's timeout.
    assert [(name, outcome.split(" ")[0]) for name, outcome, _ in results] == [
        ("hangs", "failed"),
        ("cleanup", "passed"),
    ]
    assert "ended by the job's timeout" in (logs / "step-01.log").read_text()
    assert summary.read_text() == "cleaned\n"


def test_volume_names_are_read_from_virshs_table() -> None:
    table = {
        "Name                         Path",
        "-----------------------------------------",
        "halab_nas1.img               /var/lib/libvirt/images/halab_nas1.img",
    }
    assert dry.volume_names(table) == {"halab_nas1.img"}


def test_past_the_jobs_timeout_between_steps_only_the_always_steps_run(tmp_path: Path) -> None:
    steps = """\
        - name: late
          run: echo late >> "$GITHUB_STEP_SUMMARY"
        - name: cleanup
          if: always()
          run: echo cleaned >> "$GITHUB_STEP_SUMMARY"
        """
    results, _, summary = _run_with_timeout(tmp_path, steps, timeout_minutes=0)
    assert [(name, outcome.split(" ")[0]) for name, outcome, _ in results] == [
        ("late", "skipped"),
        ("cleanup", "passed"),
    ]
    assert summary.read_text() == "cleaned\n"
