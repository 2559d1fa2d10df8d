"""Benchmark the measuring instrument; prints a Markdown report.

1. Calibration: injected pauses of 50 ms, 200 ms and 1 s against the freeze the
   observer measures (probe as a host process, 5 ms heartbeat).
2. Local live migration between two QEMU processes: the observer's freeze
   against QEMU's own downtime, and the total migration time.

    python bench/instrument.py --runs 5 [--load-mibs 0,20] [--out docs/results/FILE.md]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.host.guest_image import build_guest_image, build_probe
from harness.host.local_migration import GuestDidNotResume, migrate_locally
from harness.probe.calibration import calibrate

PAUSES_MS = [50, 200, 1000]
EVIDENCE = Path(__file__).resolve().parent.parent / "artifacts" / "bench"


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        platform.processor(),
    )
    qemu = subprocess.run(["qemu-system-x86_64", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    return f"{os.cpu_count()} cores ({cpu}), QEMU accelerator TCG, {qemu}, host kernel {platform.release()}"


def calibration_table(probe: Path, runs: int) -> list[str]:
    errors: dict[int, list[tuple[float, float]]] = {p: [] for p in PAUSES_MS}
    for run in range(runs):
        result = calibrate(probe, [p / 1000 for p in PAUSES_MS])
        for target, (pause, window) in zip(PAUSES_MS, result.matched(), strict=True):
            if window is None:
                raise SystemExit(f"run {run}: no freeze seen for the {target} ms pause")
            errors[target].append((pause.injected_ms, window.freeze_ms))
        print(f"calibration run {run + 1}/{runs} done", file=sys.stderr)
    lines = [
        "| pause | runs | injected (mean) | measured freeze (mean) | error mean | error min | error max |",
        "|---|---|---|---|---|---|---|",
    ]
    for target, pairs in errors.items():
        diffs = [measured - injected for injected, measured in pairs]
        lines.append(
            f"| {target} ms | {len(pairs)} | {statistics.mean(i for i, _ in pairs):.1f} ms "
            f"| {statistics.mean(m for _, m in pairs):.1f} ms | {statistics.mean(diffs):+.2f} ms "
            f"| {min(diffs):+.2f} ms | {max(diffs):+.2f} ms |"
        )
    return lines


def migration_table(runs: int, load_mibs: int) -> list[str]:
    image = build_guest_image(progress=lambda line: print(line, file=sys.stderr))
    lines = [
        "| run | load | observer freeze | QEMU downtime | freeze - downtime | guest-clock gap | total time "
        "| RAM sent | lost heartbeats | records checked |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    freezes, downtimes, totals, failures = [], [], [], 0
    for run in range(runs):
        workdir = Path(tempfile.mkdtemp(prefix="bench-migration-"))
        try:
            result = migrate_locally(image, workdir, load_mibs=load_mibs)
        except GuestDidNotResume as crash:
            failures += 1
            evidence = EVIDENCE / f"{datetime.datetime.now():%Y%m%dT%H%M%S}-load{load_mibs}-run{run + 1}"
            shutil.copytree(workdir, evidence, ignore=shutil.ignore_patterns("disk.img"))
            lines.append(f"| {run + 1} | {load_mibs} MiB/s | guest did not resume: `{crash.oops}` | | | | | | | |")
            print(f"migration run {run + 1}: guest did not resume, evidence in {evidence}", file=sys.stderr)
            continue
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        window = result.migration_freeze()
        freeze = window.freeze_ms if window else 0.0
        guest = f"{window.guest_gap_ms:.1f} ms" if window and window.guest_gap_ms is not None else "n/a"
        sent = result.qemu.get("ram", {}).get("transferred", 0) / 2**20
        records = f"{result.verification.checked} {'intact' if result.verification.ok else 'LOST: '}"
        if not result.verification.ok:
            records += result.verification.summary()
        freezes.append(freeze)
        downtimes.append(result.downtime_ms)
        totals.append(result.total_time_ms)
        lines.append(
            f"| {run + 1} | {load_mibs} MiB/s | {freeze:.1f} ms | {result.downtime_ms:.0f} ms "
            f"| {freeze - result.downtime_ms:+.1f} ms | {guest} | {result.total_time_ms:.0f} ms | {sent:.1f} MiB "
            f"| {result.analysis.lost} | {records} |"
        )
        print(f"migration run {run + 1}/{runs} (load {load_mibs} MiB/s) done", file=sys.stderr)
    if not freezes:
        return [*lines, f"| all {runs} runs failed | | | | | | | | | |"]
    lines.append(
        f"| median | | {statistics.median(freezes):.1f} ms | {statistics.median(downtimes):.0f} ms | "
        f"{statistics.median(f - d for f, d in zip(freezes, downtimes, strict=True)):+.1f} ms | "
        f"| {statistics.median(totals):.0f} ms | | | |"
    )
    lines.append(f"\n{runs - failures} of {runs} migrations resumed the guest.")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--load-mibs", default="0", help="comma-separated guest memory loads for the migrations")
    parser.add_argument("--out", type=Path, help="also write the report here")
    args = parser.parse_args()
    loads = [int(x) for x in args.load_mibs.split(",")]

    with tempfile.TemporaryDirectory() as tmp:
        probe = build_probe(Path(tmp) / "probe")
        report = [
            f"# The instrument, measured ({datetime.date.today().isoformat()})",
            "",
            f"Command: `python bench/instrument.py --runs {args.runs} --load-mibs {args.load_mibs}`",
            f"Machine: {machine()}",
            "",
            "## Calibration: injected pause vs measured freeze (probe as a host process, 5 ms heartbeat)",
            "",
            *calibration_table(probe, args.runs),
        ]
    report += [
        "",
        "## Local live migration between two QEMU TCG processes (guest 192 MiB, 5 ms heartbeat, disk every 20 ms)",
        "",
    ]
    for load in loads:
        report += [*migration_table(args.runs, load), ""]
    text = "\n".join(report) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
