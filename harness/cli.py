"""Command line: `ha-lab VERB ...` (also `python -m harness`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness.guest_image import GuestImageError, build_guest_image
from harness.records import VerifyError, verify


def _build_guest(args: argparse.Namespace) -> int:
    image = build_guest_image(cache=args.cache)
    print(f"kernel {image.kernel}\ninitrd {image.initrd}")
    return 0


def _verify_records(args: argparse.Namespace) -> int:
    result = verify(args.image, upto=args.upto, ring=args.ring, offset=args.offset)
    print(result.summary())
    return 0 if result.ok else 1


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="ha-lab", description="The HA live-migration lab.")
    verbs = top.add_subparsers(dest="verb", required=True)

    build = verbs.add_parser("build-guest", help="build (or find cached) the guest kernel and initramfs")
    build.add_argument(
        "--cache", type=Path, default=None, help="cache folder (default $HA_LAB_CACHE or ~/.cache/ha-lab)"
    )
    build.set_defaults(run=_build_guest)

    check = verbs.add_parser("verify-records", help="check that acknowledged probe records are on a disk image")
    check.add_argument("image", type=Path)
    check.add_argument("--upto", type=int, required=True, help="newest record the guest reported acknowledged")
    check.add_argument("--ring", type=int, required=True, help="ring size in 4 KiB slots the probe ran with")
    check.add_argument("--offset", type=int, default=0, help="byte offset of the ring in the image")
    check.set_defaults(run=_verify_records)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.run(args))
    except (GuestImageError, VerifyError) as err:
        print(f"ha-lab: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
