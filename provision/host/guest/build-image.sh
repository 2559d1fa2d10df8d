#!/usr/bin/env bash
# Build the guest: a Debian kernel and an initramfs of busybox, the probe and
# the few virtio modules it needs. Packages are downloaded and unpacked, never
# installed on the host.
#   build-image.sh OUTDIR KERNEL_PACKAGE=VERSION BUSYBOX_PACKAGE=VERSION
set -euo pipefail
out=${1:?usage: build-image.sh OUTDIR KERNEL_PKG=VERSION BUSYBOX_PKG=VERSION}
kernel_pkg=${2:?kernel package=version missing}
busybox_pkg=${3:?busybox package=version missing}
here=$(cd "$(dirname "$0")" && pwd)
modules_wanted="virtio_pci virtio_blk virtio_net"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$out" "$work/debs" "$work/pkg" "$work/root"/{bin,dev,proc,sys,etc,lib/modules}

echo "guest: downloading $kernel_pkg $busybox_pkg"
(cd "$work/debs" && apt-get download -q -o APT::Sandbox::User=root "$kernel_pkg" "$busybox_pkg" >/dev/null)
for deb in "$work"/debs/*.deb; do
	dpkg-deb -x "$deb" "$work/pkg"
done

root=$work/root
cp "$work/pkg/bin/busybox" "$root/bin/busybox"
ln -s busybox "$root/bin/sh"
"$here/probe/build.sh" "$root/bin/probe"
install -m 0755 "$here/init" "$root/init"

# Modules in load order: each one's dependencies (modules.dep lists them all,
# transitively) before the module itself.
moddir=$(echo "$work"/pkg/lib/modules/*)
depmod -b "$work/pkg" "$(basename "$moddir")"
loaded=" "
load() {
	local path=$1 dep deps
	case "$loaded" in *" $path "*) return ;; esac
	deps=$(grep "^$path:" "$moddir/modules.dep" | cut -d: -f2)
	for dep in $deps; do
		load "$dep"
	done
	loaded="$loaded$path "
	cp "$moddir/$path" "$root/lib/modules/"
	basename "$path" >>"$root/etc/modules"
}
for name in $modules_wanted; do
	path=$(grep -E "(^|/)$name\.ko:" "$moddir/modules.dep" | cut -d: -f1)
	[ -n "$path" ] || { echo "guest: module $name not in $kernel_pkg" >&2; exit 1; }
	load "$path"
done

echo "guest: packing initramfs"
(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet --reproducible) | gzip -6 >"$out/initrd.img"
cp "$work"/pkg/boot/vmlinuz-* "$out/vmlinuz"
printf '%s\n' "$kernel_pkg" "$busybox_pkg" >"$out/packages"
