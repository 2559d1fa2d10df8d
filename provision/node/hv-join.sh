#!/usr/bin/env bash
# One vnode joins the storage and its cluster: host keys of the vnodes, the
# NFS export mounted, Pacemaker started. Run on each vnode (the harness runs
# both at once) after node.sh and once the NAS serves NFS. Idempotent.
# Nothing here reaches the other vnode: root SSH between them is for migration only.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=SCRIPTDIR/lib.sh
. "$here/lib.sh"

# Migration runs over root SSH by name or lab address: the nodes' host keys, as the host
# learnt them from the consoles (not scanned over the network), and nothing else accepted.
install -d -m 0700 /root/.ssh
install_if_changed "$here/known_hosts" /root/.ssh/known_hosts 0644 || true
printf 'Host *\n  StrictHostKeyChecking yes\n' >/tmp/root-ssh-config
install_if_changed /tmp/root-ssh-config /root/.ssh/config 0600 || true

vip=$(lab vip)
wait_for 600 "NFS at $vip" timeout 5 bash -c "</dev/tcp/$vip/$(lab nfs.port)"
nfs_mount=$(lab paths.vnode_mount)
mountpoint -q "$nfs_mount" || mount "$nfs_mount"
guest=$(lab paths.guest_dir)
mkdir -p "$guest"
# hv-node.sh marks a changed guest definition locally, before the export is
# mounted; hv-cluster.sh reads the marks of both vnodes from the shared export.
changed=$(lab paths.guest_changed)
if [ -e "$changed" ]; then
	touch "$guest/changed-$(hostname)"
	rm -f "$changed"
fi

# Pacemaker on the vnodes starts only with the export mounted.
systemctl is-active --quiet pacemaker || systemctl start pacemaker
