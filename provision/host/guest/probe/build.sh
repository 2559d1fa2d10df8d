#!/usr/bin/env bash
# Compile the probe as one static binary: the guest has no libc of its own.
set -euo pipefail
out=${1:?usage: build.sh OUTPUT}
here=$(cd "$(dirname "$0")" && pwd)
cc=${CC:-gcc}
command -v "$cc" >/dev/null || { echo "build.sh: $cc not found; install gcc and libc6-dev" >&2; exit 1; }
"$cc" -static -O2 -Wall -Wextra -Werror -pthread -o "$out" "$here/probe.c"
