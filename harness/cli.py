"""Command line: `ha-lab VERB ...` (also `python -m harness`)."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from harness.cluster.overview import overview
from harness.cluster.whole import WHOLE_TIMEOUT_S, wait_whole
from harness.config.lab import REPO, LabConfig
from harness.errors import HarnessError
from harness.host.doctor import examine
from harness.host.guest_image import build_guest_image, cache_root
from harness.judging.summary import last_run, summary_from_files
from harness.lab.handle import Lab
from harness.lab.provisioned import newest_of_each_lab
from harness.lab.provisioned import prune as prune_kept
from harness.probe.records import verify

DEFAULT_SNAPSHOT = "lab"


def _build_guest(args: argparse.Namespace) -> int:
    image = build_guest_image(cache=args.cache)
    print(f"kernel {image.kernel}\ninitrd {image.initrd}")
    return 0


def _doctor(args: argparse.Namespace) -> int:
    report = examine(cache_root(), fix=args.fix, recheck=args.recheck)
    print(report.table())
    return 0


def _lab(args: argparse.Namespace) -> Lab:
    return Lab(LabConfig.load(args.config, name=args.name, subnet=args.subnet))


def _up(args: argparse.Namespace) -> int:
    lab = _lab(args)  # bad input is refused before the host is touched
    report = examine(cache_root(), fix=args.fix)
    print(report.table())
    new = not lab.exists()
    phases = lab.up(report.accel, restore=not args.fresh)
    if new:  # an existing lab may be broken on purpose: 'ha-lab revert' mends that
        phases.seconds["lab whole"] = wait_whole(lab, WHOLE_TIMEOUT_S)
    for phase, seconds in phases.seconds.items():
        print(f"{phase:<24} {seconds:7.0f} s")
    return 0


def _status(args: argparse.Namespace) -> int:
    lab = _lab(args)
    states = lab.status()
    if not states:
        print(f"lab {lab.config.name}: not created")
        return 1
    for node, state in states.items():
        print(f"{node:<8} {state}")
    print(f"{'state':<12} {lab.state_dir}\n{'consoles':<12} {lab.console_dir}")
    running = all(state == "running" for state in states.values())
    if running:
        for line in overview(lab, lambda: last_run(REPO / "artifacts")):
            print(line)
    return 0 if running else 1


def _provision(args: argparse.Namespace) -> int:
    lab = _lab(args)
    lab.require_running()
    lab.start_fencing()  # the clusters' fence devices need the host's fence_virtd
    lab.provision()
    return 0


def _ssh(args: argparse.Namespace) -> int:
    lab = _lab(args)
    lab.config.role_of(args.node)  # an unknown node is refused with the names of the real ones
    lab.require_running()
    argv = ["ssh", "-F", str(lab.ssh_config()), args.node, *args.command]
    os.execvp(argv[0], argv)  # the user's own session: their terminal, their exit code


def _snapshot(args: argparse.Namespace) -> int:
    lab = _lab(args)
    if args.delete:
        lab.delete_snapshot(args.snapshot)
        print(f"removed snapshot {args.snapshot}")
        return 0
    _print_steps(lab.snapshot(args.snapshot))
    return 0


def _revert(args: argparse.Namespace) -> int:
    lab = _lab(args)
    if args.provisioned and args.snapshot is not None:
        raise HarnessError(f"'--provisioned' or a snapshot name ({args.snapshot}), not both")
    started = time.monotonic()
    steps = lab.revert_to_provisioned() if args.provisioned else lab.revert(args.snapshot or DEFAULT_SNAPSHOT)
    steps["whole"] = round(wait_whole(lab, args.timeout), 2)
    steps["total"] = round(time.monotonic() - started, 2)
    _print_steps(steps)
    return 0


def _snapshots(args: argparse.Namespace) -> int:
    lab = _lab(args)
    found = lab.snapshots()
    for snap in found:
        made = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(snap.created))
        print(f"{snap.name:<24} {made}  {snap.folder}")
    if not found:
        print(f"lab {lab.config.name}: no snapshots ('ha-lab snapshot NAME' takes one)")
    return 0


def _print_steps(steps: dict[str, float]) -> None:
    for step, seconds in steps.items():
        print(f"{step:<24} {seconds:7.1f} s")


def _destroy(args: argparse.Namespace) -> int:
    lab = _lab(args)
    kept = lab.provisioned()
    for item in lab.destroy(force=args.force):
        print(f"removed {item}")
    if kept and args.drop_kept:
        for item in prune_kept(lambda key: key != kept.key):
            print(f"removed {item}")
    elif kept:
        print(f"kept {kept.folder} (the next 'ha-lab up' of this lab restores it; --drop-kept removes it)")
    return 0


def _prune(args: argparse.Namespace) -> int:
    removed = prune_kept(lambda key: False) if args.all else prune_kept(newest_of_each_lab())
    for item in removed:
        print(f"removed {item}")
    if not removed:
        print("nothing to remove")
    return 0


def _verify_records(args: argparse.Namespace) -> int:
    result = verify(args.image, upto=args.upto, ring=args.ring, offset=args.offset)
    print(result.summary())
    return 0 if result.ok else 1


def _summarize(args: argparse.Namespace) -> int:
    print(summary_from_files(args.runs), end="")
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="ha-lab", description="The HA live-migration lab.")
    verbs = top.add_subparsers(dest="verb", required=True)

    build = verbs.add_parser("build-guest", help="build (or find cached) the guest kernel and initramfs")
    build.add_argument(
        "--cache", type=Path, default=None, help="cache folder (default $HA_LAB_CACHE or ~/.cache/ha-lab)"
    )
    build.set_defaults(run=_build_guest)

    doctor = verbs.add_parser("doctor", help="check the host for the lab; --fix repairs it (as root)")
    doctor.add_argument("--fix", action="store_true", help="install packages, start libvirt, apply host fixes")
    doctor.add_argument("--recheck", action="store_true", help="boot-check the accelerator again")
    doctor.set_defaults(run=_doctor)

    lab_options = argparse.ArgumentParser(add_help=False)
    lab_options.add_argument("--config", type=Path, help="lab config file (default: lab.toml if present)")
    lab_options.add_argument("--name", help="lab name (overrides the config)")
    lab_options.add_argument("--subnet", help="lab subnet, a private /24 (overrides the config)")
    up = verbs.add_parser("up", parents=[lab_options], help="bring the lab up (or finish bringing it up)")
    up.add_argument("--fix", action="store_true", help="let the doctor fix the host first (as root)")
    up.add_argument(
        "--fresh",
        action="store_true",
        help="provision anew even if this lab's provisioned state is kept (and keep the new one)",
    )
    up.set_defaults(run=_up)
    verbs.add_parser("status", parents=[lab_options], help="the nodes' states").set_defaults(run=_status)
    verbs.add_parser("provision", parents=[lab_options], help="run provisioning again").set_defaults(run=_provision)
    ssh = verbs.add_parser("ssh", parents=[lab_options], help="a shell (or a command) on a node of the lab")
    ssh.add_argument("node", help="vnode2, vnode3, nas1 or nas2")
    ssh.add_argument("command", nargs=argparse.REMAINDER, help="a command to run there instead of a shell")
    ssh.set_defaults(run=_ssh)
    snapshot = verbs.add_parser(
        "snapshot", parents=[lab_options], help="save the running lab (all nodes paused, saved, resumed)"
    )
    snapshot.add_argument("snapshot", nargs="?", default=DEFAULT_SNAPSHOT, metavar="NAME")
    snapshot.add_argument("--delete", action="store_true", help="remove snapshot NAME instead")
    snapshot.set_defaults(run=_snapshot)
    revert = verbs.add_parser(
        "revert", parents=[lab_options], help="bring the lab back to a snapshot and wait until it is whole"
    )
    revert.add_argument("snapshot", nargs="?", metavar="NAME", help=f"default: {DEFAULT_SNAPSHOT}")
    revert.add_argument(
        "--provisioned",
        action="store_true",
        help="to the provisioned state this lab started from (what tests revert to)",
    )
    revert.add_argument("--timeout", type=float, default=300, help="seconds to wait for the lab to be whole")
    revert.set_defaults(run=_revert)
    verbs.add_parser("snapshots", parents=[lab_options], help="the lab's snapshots").set_defaults(run=_snapshots)
    destroy = verbs.add_parser("destroy", parents=[lab_options], help="destroy the lab and sweep its leftovers")
    destroy.add_argument("--force", action="store_true", help="also a lab of this name another state folder made")
    destroy.add_argument("--drop-kept", action="store_true", help="also remove this lab's kept provisioned state")
    destroy.set_defaults(run=_destroy)
    prune = verbs.add_parser(
        "prune", help="remove kept provisioned labs older than their lab's newest; never one a lab stands on"
    )
    prune.add_argument("--all", action="store_true", help="every kept provisioned lab no running lab stands on")
    prune.set_defaults(run=_prune)

    check = verbs.add_parser("verify-records", help="check that acknowledged probe records are on a disk image")
    check.add_argument("image", type=Path)
    check.add_argument("--upto", type=int, required=True, help="newest record the guest reported acknowledged")
    check.add_argument("--ring", type=int, required=True, help="ring size in 4 KiB slots the probe ran with")
    check.add_argument("--offset", type=int, default=0, help="byte offset of the ring in the image")
    check.set_defaults(run=_verify_records)

    summarize = verbs.add_parser("summarize", help="one Markdown table (with p50/p95) from move run JSON files")
    summarize.add_argument("runs", type=Path, nargs="+", help="artifacts/runs/*/<scenario>-<load>-run<N>.json")
    summarize.set_defaults(run=_summarize)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.run(args))
    except HarnessError as err:
        print(f"ha-lab: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
