"""Bad input to the CLI and to the scenarios' options: a clear message, a non-zero exit, nothing changed.

Each case runs the real entry point (`python -m harness`, `pytest scenarios/`) in a child process with
a lab name of its own, then checks that no lab state, artifact, cache entry or lab daemon appeared.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.config.lab import REPO

LAB = "badinput"  # no lab of this name is ever brought up; its state folder must never appear
DAEMONS = ("libvirtd", "virtlogd", "virtqemud", "vagrant", "qemu-system-x86_64")


def running_daemons() -> set[str]:
    found = subprocess.run(["ps", "-eo", "comm="], capture_output=True, text=True, check=True).stdout.split()
    return {name for name in found if name in DAEMONS}


def listing(folder: Path) -> set[str]:
    """Top level only: a lab running meanwhile may add logs inside its own folder, never a new folder."""
    return {p.name for p in folder.iterdir()} if folder.exists() else set()


@pytest.fixture
def host(tmp_path: Path) -> Iterator[dict[str, str]]:
    """The child's environment, with a cache of its own; fails the test if the host changed."""
    cache = tmp_path / "cache"
    env = {**os.environ, "HA_LAB_CACHE": str(cache), "PYTHONDONTWRITEBYTECODE": "1"}
    before = (listing(REPO / ".lab"), listing(REPO / "artifacts"), running_daemons())
    yield env
    assert not (REPO / ".lab" / LAB).exists(), "a refused command left lab state behind"
    assert not cache.exists(), "a refused command wrote to the cache"
    assert (listing(REPO / ".lab"), listing(REPO / "artifacts"), running_daemons()) == before


def run(env: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, env=env, cwd=REPO, timeout=120)


def ha_lab(env: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    return run(env, sys.executable, "-m", "harness", *argv)


def scenarios(env: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    return run(env, sys.executable, "-m", "pytest", "scenarios/", "-p", "no:cacheprovider", "--lab-name", LAB, *argv)


def refused(done: subprocess.CompletedProcess[str], *phrases: str) -> str:
    said = done.stdout + done.stderr
    assert done.returncode not in (0, 5), f"exit {done.returncode}, expected a refusal:\n{said}"
    for phrase in phrases:
        assert phrase in said, f"{phrase!r} not in:\n{said}"
    assert "Traceback" not in said, said
    return said


# --- the CLI --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "phrases"),
    [
        ("name = 'Lab One'\n", ["lab name 'Lab One'", "lower-case letters"]),
        ("name = 5\n", ["name 5: must be a quoted string"]),
        ("subnet = '8.8.8.0/24'\n", ["wants a private /24"]),
        ("subnet = 'ten'\n", ["subnet 'ten'", "give a network such as"]),
        ("observer_port = 'x'\n", ["observer_port 'x': must be a number"]),
        ("subnett = '10.9.0.0/24'\n", ["unknown keys ['subnett']", "known: name, subnet, observer_port"]),
        ("name = \n", ["lab.toml"]),
    ],
)
def test_a_broken_lab_config_is_refused_before_the_host_is_touched(
    host: dict[str, str], tmp_path: Path, text: str, phrases: list[str]
) -> None:
    config = tmp_path / "lab.toml"
    config.write_text(text)
    for verb in ("up", "status", "provision", "destroy"):
        done = ha_lab(host, verb, "--config", str(config), *(["--fix"] if verb == "up" else []))
        assert done.returncode == 2
        refused(done, *phrases)


def test_a_missing_lab_config_file_is_named(host: dict[str, str], tmp_path: Path) -> None:
    refused(ha_lab(host, "up", "--config", str(tmp_path / "nowhere.toml")), "nowhere.toml: no such lab config file")


@pytest.mark.parametrize("verb", ["provision", "status"])
def test_a_lab_that_is_not_up_is_said_to_be_so(host: dict[str, str], verb: str) -> None:
    done = ha_lab(host, verb, "--name", LAB)
    assert done.returncode != 0
    said = done.stdout + done.stderr
    assert f"lab {LAB}" in said and "not" in said and "Traceback" not in said


def test_an_unknown_verb_lists_the_verbs(host: dict[str, str]) -> None:
    refused(ha_lab(host, "migrate"), "invalid choice: 'migrate'", "up", "destroy", "summarize")


def test_summarize_refuses_a_file_that_is_not_a_run(host: dict[str, str], tmp_path: Path) -> None:
    junk = tmp_path / "junk.json"
    junk.write_text("{}")
    refused(ha_lab(host, "summarize", str(junk)), "junk.json: not a move run file", "artifacts/runs/")
    refused(ha_lab(host, "summarize", str(tmp_path / "gone.json")), "gone.json: not a move run file")


def test_verify_records_refuses_a_missing_image_and_a_bad_ring(host: dict[str, str], tmp_path: Path) -> None:
    refused(ha_lab(host, "verify-records", str(tmp_path / "none.img"), "--upto", "3", "--ring", "8"), "none.img")
    image = tmp_path / "disk.img"
    image.write_bytes(bytes(4096 * 8))
    refused(ha_lab(host, "verify-records", str(image), "--upto", "3", "--ring", "0"), "ring must be >= 1")
    refused(ha_lab(host, "verify-records", str(image), "--upto", "three", "--ring", "8"), "invalid int value")


def test_ssh_to_a_node_that_is_not_in_the_lab_names_the_nodes(host: dict[str, str]) -> None:
    refused(ha_lab(host, "ssh", "--name", LAB, "nas9"), "no node 'nas9' in the lab", "vnode2, vnode3, nas1, nas2")


@pytest.mark.parametrize(
    "argv",
    [["snapshot"], ["revert", "base"], ["revert", "--provisioned"], ["snapshots"], ["snapshot", "--delete", "base"]],
    ids=" ".join,
)
def test_snapshots_of_a_lab_that_is_not_up_are_refused(host: dict[str, str], argv: list[str]) -> None:
    refused(ha_lab(host, *argv, "--name", LAB), f"lab {LAB} has not been brought up", "ha-lab up")


def test_a_revert_to_a_name_and_to_the_provisioned_state_at_once_is_refused(host: dict[str, str]) -> None:
    refused(ha_lab(host, "revert", "base", "--provisioned", "--name", LAB), "'--provisioned' or a snapshot name")


def test_a_bad_snapshot_name_is_refused(host: dict[str, str]) -> None:
    refused(ha_lab(host, "revert", "../x", "--name", LAB), "snapshot name '../x'", "letters, digits")


def test_ssh_to_a_lab_that_is_not_up_says_so(host: dict[str, str]) -> None:
    refused(ha_lab(host, "ssh", "--name", LAB, "nas1", "true"), f"lab {LAB} is not running", "ha-lab up")


# --- pytest scenarios/ ----------------------------------------------------------------------------


def test_an_unknown_scenario_name_lists_the_tests(host: dict[str, str]) -> None:
    done = scenarios(host, "-k", "nas_mvoe")
    assert done.returncode == 4  # pytest's usage error, not 5 ("no tests ran") that hides the typo
    refused(
        done, "-k 'nas_mvoe' selects no test", "test_move", "test_nas_crash", "nas_move", "hypervisor_move", "both_move"
    )


def test_a_known_scenario_name_still_selects_it_alone(host: dict[str, str]) -> None:
    done = scenarios(host, "-k", "nas_move", "--collect-only", "-q")
    assert done.returncode == 0, done.stdout + done.stderr
    selected = [line for line in done.stdout.splitlines() if "::" in line]
    assert selected and all("nas_move" in line and "test_move[" in line for line in selected), done.stdout


def test_not_destructive_leaves_out_every_test_that_breaks_the_lab(host: dict[str, str]) -> None:
    done = scenarios(host, "-m", "not destructive", "--collect-only", "-q")
    assert done.returncode == 0, done.stdout + done.stderr
    selected = [line for line in done.stdout.splitlines() if "::" in line]
    assert any("test_move[" in line for line in selected), done.stdout  # the selection is not empty
    breaking = ("test_faults.py", "test_fencing.py", "test_controls.py", "test_known_good.py", "test_teardown.py")
    assert [line for line in selected if line.startswith(tuple(f"scenarios/{m}" for m in breaking))] == []


def test_an_unknown_marker_is_refused(host: dict[str, str]) -> None:
    refused(scenarios(host, "-m", "smok", "--collect-only"), "smok")


@pytest.mark.parametrize(
    ("text", "phrases"),
    [
        ('[tcg]\nfreeze_ms = "fast"\ndisk_stall_ms = 1\n', ["must be a positive number of milliseconds, not 'fast'"]),
        ("[tcg]\nfreeze_ms = 5\ndisk_stall_ms = 1\nfreez_ms = 3\n", ["unknown key 'freez_ms'"]),
        ("[tcg]\nfreeze_ms = 5\ndisk_stall_ms = 1\n[tcg.nas_mvoe]\nfreeze_ms = 5\n", ["[tcg.nas_mvoe] names no"]),
        ("[tgc]\nfreeze_ms = 5\ndisk_stall_ms = 1\n", ["unknown section(s) ['tgc']"]),
        ("[tcg]\nfreeze_ms = 5\n", ["sets no disk_stall_ms for tcg"]),
    ],
)
def test_budgets_that_are_not_numbers_stop_the_run_before_the_lab(
    host: dict[str, str], tmp_path: Path, text: str, phrases: list[str]
) -> None:
    budgets = tmp_path / "budgets.toml"
    budgets.write_text(text)
    done = scenarios(host, "--budgets", str(budgets), "-k", "move")
    assert done.returncode == 4
    refused(done, *phrases)


@pytest.mark.parametrize(
    ("options", "phrase"),
    [
        (["--repeat", "0"], "--repeat wants 1 or more"),
        (["--load-mibs", "-3"], "--load-mibs wants 1 or more"),
        (["--lab-config", "nowhere.toml"], "nowhere.toml: no such lab config file"),
    ],
)
def test_bad_scenario_options_are_usage_errors(host: dict[str, str], options: list[str], phrase: str) -> None:
    done = scenarios(host, *options)
    assert done.returncode == 4
    refused(done, phrase)


def test_reusing_a_lab_that_is_not_up_stops_at_once(host: dict[str, str]) -> None:
    done = scenarios(host, "--reuse-lab", "-k", "nas_move")
    assert done.returncode == 2
    refused(done, f"lab {LAB} is not running (not created): run 'ha-lab up' first")
