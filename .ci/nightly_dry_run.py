"""Run the nightly workflow's steps here, in its order, with its environment, and check that
they leave nothing behind on the host.

What GitHub would do, done by hand: a fresh clone of HEAD stands in for actions/checkout, each
`run:` step runs as GitHub runs it (`bash --noprofile --norc -eo pipefail`, the job's and the
step's env, `${{ inputs.* }}` from --input), a step without `if: always()` is skipped once one
has failed, and the other `uses:` steps (the upload) are listed with what they would take.
Afterwards every libvirt domain, network and volume and every fence_virtd, libvirt-owned QEMU
and vagrant process must be as it was before, and the job summary must not be empty.

    tox -e nightly-dry-run -- --input selection=test_move --log-dir /tmp/dry-run \
        --env HA_LAB_STATE=$HOME/.local/state/ha-lab --env HA_LAB_CACHE=$HOME/.cache/ha-lab

The clone stays in LOG_DIR/workspace with the run folder (artifacts/) the upload would take.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

CLEANUP_GRACE_S = 600.0

REPO = Path(__file__).resolve().parent.parent
WORKFLOW = REPO / ".github" / "workflows" / "nightly-e2e.yml"
SHELL = ["bash", "--noprofile", "--norc", "-eo", "pipefail"]  # GitHub's `shell: bash`
EXPRESSION = re.compile(r"\$\{\{\s*([^}]*?)\s*\}\}")
WATCHED_PROCESSES = ("fence_virtd", "qemu-system-x86_64", "vagrant")
BOX_VOLUME = "_vagrant_box_image_"  # vagrant-libvirt's upload of the box: kept like the box itself


class DryRunError(Exception):
    """The workflow cannot be run here as written; the message says what to change."""


@dataclass
class Step:
    name: str
    run: str | None  # None: a `uses:` step
    uses: str | None
    always: bool
    env: dict[str, str] = field(default_factory=dict)
    with_: dict[str, str] = field(default_factory=dict)


@dataclass
class Job:
    env: dict[str, str]
    steps: list[Step]
    timeout_minutes: float


def _substitute(text: str, inputs: dict[str, str], where: str) -> str:
    def value(match: re.Match[str]) -> str:
        expr = match.group(1)
        if expr.startswith("inputs."):
            return inputs.get(expr.removeprefix("inputs."), "")
        raise DryRunError(f"{where}: the dry run cannot evaluate ${{{{ {expr} }}}}; pass it through env instead")

    return EXPRESSION.sub(value, text)


def load(workflow: Path, inputs: dict[str, str], job_name: str = "e2e") -> Job:
    """The job's steps as a runner would see them, with the dispatch inputs filled in."""
    document = yaml.safe_load(workflow.read_text())
    declared = set((document.get(True, document.get("on")) or {}).get("workflow_dispatch", {}).get("inputs", {}))
    unknown = set(inputs) - declared
    if unknown:
        raise DryRunError(f"unknown input(s) {sorted(unknown)}: the workflow declares {sorted(declared)}")
    job = document["jobs"][job_name]
    env = {k: _substitute(str(v), inputs, f"job env {k}") for k, v in (job.get("env") or {}).items()}
    steps = []
    for raw in job["steps"]:
        name = raw.get("name") or raw.get("uses") or raw["run"].splitlines()[0]
        condition = str(raw.get("if", "success()")).strip()
        if condition not in ("success()", "always()"):
            raise DryRunError(f"step {name!r}: the dry run knows if: success() and always(), not {condition!r}")
        steps.append(
            Step(
                name=name,
                run=_substitute(raw["run"], inputs, f"step {name!r}") if "run" in raw else None,
                uses=raw.get("uses"),
                always=condition == "always()",
                env={
                    k: _substitute(str(v), inputs, f"step {name!r} env {k}") for k, v in (raw.get("env") or {}).items()
                },
                with_={k: str(v) for k, v in (raw.get("with") or {}).items()},
            )
        )
    return Job(env, steps, int(job.get("timeout-minutes", 360)))


def volume_names(table: set[str]) -> set[str]:
    """The names in `virsh vol-list POOL`'s table (its header and rule dropped): vol-list has no --name."""
    return {row.split()[0] for row in table if not row.startswith(("Name ", "---"))}


def host_inventory() -> dict[str, set[str]]:
    """What the lab makes on a host, to be compared before and after."""

    def virsh(*args: str) -> set[str]:
        out = subprocess.run(
            ["virsh", "-c", "qemu:///system", *args],
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, "LC_ALL": "C"},
        )
        if out.returncode != 0:
            # An empty listing would pass for "nothing left behind".
            raise DryRunError(f"virsh {' '.join(args)} failed: {out.stderr.strip()}; is libvirtd running?")
        return {line.strip() for line in out.stdout.splitlines() if line.strip()}

    volumes: set[str] = set()
    for pool in virsh("pool-list", "--name"):
        volumes |= {f"{pool}/{v}" for v in volume_names(virsh("vol-list", pool))}
    processes = set()
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                argv = (proc / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            command = Path(argv[0].decode(errors="replace")).name if argv and argv[0] else ""
            if command in WATCHED_PROCESSES or (command == "ruby" and any(b"vagrant" in a for a in argv[:3])):
                processes.add(f"{command} (pid {proc.name})")
    return {
        "domains": virsh("list", "--all", "--name"),
        "networks": virsh("net-list", "--all", "--name"),
        "volumes": volumes,
        "processes": processes,
    }


def left_behind(before: dict[str, set[str]], after: dict[str, set[str]]) -> list[str]:
    """What the run made and did not remove; the box's base volume is a cache, kept on purpose."""
    return [
        f"{kind}: {item}"
        for kind in after
        for item in sorted(after[kind] - before.get(kind, set()))
        if not (kind == "volumes" and BOX_VOLUME in item)
    ]


def runner_environment() -> dict[str, str]:
    """This process's environment without what tox put there (a runner has no tox around it):
    a nested tox would otherwise work in this tox's folder, not the clone's."""
    venv = os.environ.get("VIRTUAL_ENV")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOX_") and k not in ("VIRTUAL_ENV", "TOX")}
    if venv:
        env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if not p.startswith(venv))
    return env


def _clone(workspace: Path) -> None:
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(workspace)], check=True)
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True, check=True)
    subprocess.run(["git", "-C", str(workspace), "checkout", "--quiet", "--detach", head.stdout.strip()], check=True)


def _upload(step: Step, workspace: Path) -> str:
    path = workspace / step.with_.get("path", "")
    files = [p for p in path.rglob("*") if p.is_file()] if path.exists() else []
    return f"would upload {len(files)} file(s) from {path}"


def _end_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, 9)


def run(job: Job, workspace: Path, log_dir: Path, summary: Path) -> list[tuple[str, str, float]]:
    """Each step's name, outcome and seconds; a run step's output goes to the terminal and its log."""
    results: list[tuple[str, str, float]] = []
    failed = False
    deadline = time.monotonic() + job.timeout_minutes * 60
    for number, step in enumerate(job.steps, 1):
        if not step.always and time.monotonic() > deadline:
            failed = True  # GitHub cancels the job: only the always() steps run on
        if failed and not step.always:
            results.append((step.name, "skipped", 0.0))
            continue
        print(f"\n=== step {number}: {step.name}", flush=True)
        started = time.monotonic()
        if step.run is None:
            if step.uses and step.uses.startswith("actions/checkout"):
                _clone(workspace)
                outcome = f"cloned HEAD into {workspace}"
            else:
                outcome = _upload(step, workspace) if step.uses and "upload-artifact" in step.uses else "not run here"
            print(outcome, flush=True)
            results.append((step.name, outcome, time.monotonic() - started))
            continue
        env = {
            **runner_environment(),
            **job.env,
            **step.env,
            "CI": "true",
            "GITHUB_WORKSPACE": str(workspace),
            "GITHUB_STEP_SUMMARY": str(summary),
        }
        script = log_dir / f"step-{number:02d}.sh"
        script.write_text(step.run)
        log = log_dir / f"step-{number:02d}.log"
        with log.open("w") as out:
            proc = subprocess.Popen([*SHELL, str(script)], cwd=workspace, env=env, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True, start_new_session=True)  # fmt: skip
            assert proc.stdout is not None
            # The job's timeout, as GitHub enforces it: also a step that prints nothing more is ended.
            # The step's whole process group: a child left holding the pipe would keep the loop below.
            # After the deadline GitHub still runs the always() steps (the destroy): so does this, bounded.
            limit = deadline - time.monotonic()
            timer = threading.Timer(limit if limit > 0 else CLEANUP_GRACE_S, _end_group, (proc.pid,))
            timer.start()
            # Line by line to both, so a long step can be followed while it runs.
            for line in proc.stdout:
                sys.stdout.write(line)
                sys.stdout.flush()
                out.write(line)
                out.flush()
            code = proc.wait()
            timer.cancel()
            if code < 0:
                out.write(f"ended by the job's timeout ({job.timeout_minutes} min)\n")
        outcome = "passed" if code == 0 else f"failed (exit {code}; {log})"
        failed = failed or code != 0
        results.append((step.name, outcome, time.monotonic() - started))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workflow", type=Path, default=WORKFLOW)
    parser.add_argument("--input", action="append", default=[], metavar="NAME=VALUE", help="a dispatch input")
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a job env value (where this host keeps its lab)",
    )
    parser.add_argument("--log-dir", type=Path, default=None, help="where the steps' logs go (default: a new temp dir)")
    args = parser.parse_args(argv)
    try:
        inputs = dict(item.split("=", 1) for item in args.input)
        overrides = dict(item.split("=", 1) for item in args.env)
    except ValueError:
        print(f"dry run: --input and --env want NAME=VALUE, got {args.input + args.env}", file=sys.stderr)
        return 2
    try:
        job = load(args.workflow, inputs)
    except DryRunError as err:
        print(f"dry run: {err}", file=sys.stderr)
        return 2
    unknown = set(overrides) - set(job.env)
    if unknown:
        print(f"dry run: --env {sorted(unknown)}: the job's env has {sorted(job.env)}", file=sys.stderr)
        return 2
    job.env.update(overrides)
    log_dir = args.log_dir or Path(tempfile.mkdtemp(prefix="nightly-dry-run-"))
    log_dir.mkdir(parents=True, exist_ok=True)
    workspace = log_dir / "workspace"
    if workspace.exists():
        print(f"dry run: {workspace} exists; give another --log-dir or remove it", file=sys.stderr)
        return 2
    summary = log_dir / "step-summary.md"
    summary.touch()
    before = host_inventory()
    started = time.monotonic()
    results = run(job, workspace, log_dir, summary)
    after = host_inventory()
    leftovers = left_behind(before, after)
    print(f"\n=== dry run of {args.workflow.name}: {time.monotonic() - started:.0f} s, logs in {log_dir}")
    for name, outcome, seconds in results:
        print(f"{seconds:8.1f} s  {name}: {outcome}")
    print("left behind: " + ("; ".join(leftovers) if leftovers else "nothing"))
    empty_summary = not summary.read_text().strip()
    if empty_summary:
        print("the job summary is empty")
    bad = any(outcome.startswith(("failed", "skipped")) for _, outcome, _ in results)
    return 1 if bad or leftovers or empty_summary else 0


if __name__ == "__main__":
    sys.exit(main())
