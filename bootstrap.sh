#!/usr/bin/env bash
# Install what this project needs on a Debian 12 host, then tox.
#   bash bootstrap.sh     what `tox` (unit, component and lint) needs
# Installs only what is missing; safe to run again.
set -euo pipefail

packages=(
	gcc libc6-dev             # the probe, a static binary
	qemu-system-x86 qemu-utils # the component tests' guests
	busybox-static cpio kmod gzip # the guest's initramfs (busybox is downloaded, not installed)
	shellcheck                # lint
	libvirt-dev pkg-config    # libvirt-python builds from source
	python3-venv
)

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
if ! apt-cache policy linux-image-cloud-amd64 | grep -q 'Candidate: [0-9]'; then
	echo "bootstrap: refreshing apt's package lists"
	apt-get update -qq
fi

if ! command -v tox >/dev/null; then
	echo "bootstrap: installing tox"
	python3 -m pip install -q tox
	command -v pyenv >/dev/null && pyenv rehash
fi
echo "bootstrap: ready ($(tox --version | cut -d' ' -f1-2))"
