#!/usr/bin/env bash
# Build the lab's Vagrant box (libvirt provider) from Debian 12 packages, with
# every package the lab needs already installed: installing inside a TCG node
# takes 5-8 minutes a node.
#   build-box.sh OUTDIR        writes OUTDIR/box.img, metadata.json, Vagrantfile
# Works without device-mapper or partition loop devices: the root filesystem
# is made on a loop device at the partition's offset, booted by extlinux.
set -euo pipefail
out=${1:?usage: build-box.sh OUTDIR}
here=$(cd "$(dirname "$0")" && pwd)
size_gib=${BOX_SIZE_GIB:-10}
offset=$((1024 * 1024))

packages=$(grep -v '^#' "$here/packages" | tr -s ' \n' ',' | sed 's/^,//; s/,$//')
export BOX_VAGRANT_KEY_FILE=$here/vagrant.pub

work=$(mktemp -d)
root=$work/root
loop=
cleanup() {
	mountpoint -q "$root" && umount -R "$root"
	[ -n "$loop" ] && losetup -d "$loop"
	rm -rf "$work"
}
trap cleanup EXIT

echo "box: partitioning a ${size_gib} GiB disk"
truncate -s "${size_gib}G" "$work/disk.raw"
echo "start=2048, type=83, bootable" | sfdisk -q "$work/disk.raw"
part_bytes=$((size_gib * 1024 * 1024 * 1024 - offset))
loop=$(losetup -f --show -o "$offset" --sizelimit "$part_bytes" "$work/disk.raw")
# extlinux reads neither 64-bit ext4 nor metadata checksums' seed.
mkfs.ext4 -q -L root -O ^64bit,^metadata_csum_seed "$loop"
BOX_ROOT_UUID=$(blkid -s UUID -o value "$loop")
export BOX_ROOT_UUID
mkdir "$root"
mount "$loop" "$root"

echo "box: installing Debian 12 and the lab's packages (mmdebstrap)"
mmdebstrap --quiet --variant=important --include="$packages" \
	--components=main --aptopt='Acquire::Retries "3"' \
	--customize-hook="$here/customize.sh" \
	bookworm "$root"

echo "box: installing extlinux"
mkdir -p "$root/boot/extlinux"
cat >"$root/boot/extlinux/extlinux.conf" <<EOF
DEFAULT debian
TIMEOUT 1
LABEL debian
	LINUX /vmlinuz
	INITRD /initrd.img
	APPEND root=UUID=$BOX_ROOT_UUID ro console=tty0 console=ttyS0,115200n8 net.ifnames=0 biosdevname=0
EOF
extlinux --install "$root/boot/extlinux" 2>/dev/null
umount "$root"
losetup -d "$loop"
loop=
dd if=/usr/lib/syslinux/mbr/mbr.bin of="$work/disk.raw" bs=440 count=1 conv=notrunc status=none

echo "box: converting to qcow2"
mkdir -p "$out"
qemu-img convert -O qcow2 "$work/disk.raw" "$out/box.img"
printf '{"provider": "libvirt", "format": "qcow2", "virtual_size": %d}\n' "$size_gib" >"$out/metadata.json"
cat >"$out/Vagrantfile" <<'EOF'
Vagrant.configure("2") do |config|
  config.vm.provider :libvirt do |libvirt|
    libvirt.driver = "qemu"
  end
end
EOF
