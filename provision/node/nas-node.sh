#!/usr/bin/env bash
# A storage node: DRBD on the second disk, and nfsd's settings. Pacemaker
# (set up by nas-cluster.sh) runs both. Idempotent.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=SCRIPTDIR/lib.sh
. "$here/lib.sh"

disk=$(lab drbd.disk)
res=$(lab drbd.resource)
[ -b "$disk" ] || die "$disk missing: the DRBD disk was not attached (see the Vagrantfile)"
echo drbd >/etc/modules-load.d/drbd.conf
modprobe drbd

"$here/drbd/resource.sh" >/tmp/drbd.res
if install_if_changed /tmp/drbd.res "/etc/drbd.d/$res.res" 0644; then
	# A running resource takes the new settings in place.
	drbdadm status "$res" >/dev/null 2>&1 && drbdadm adjust "$res"
fi
if ! drbdadm status "$res" >/dev/null 2>&1 && ! drbdadm dump-md "$res" >/dev/null 2>&1; then
	log "creating DRBD metadata on $disk"
	drbdadm -- --force create-md "$res"
fi

# Grace and lease per accelerator (defaults 90 s). Grace must outlast the
# start of the rest of the NFS group after nfsd (exports, address, unblock):
# clients can only reclaim their locks once they reach the server, and a lock
# not reclaimed in grace is lost (QEMU's image lock: the guest stops on EIO).
# Under TCG that rest takes minutes. Grace ends early anyway once every known
# client has reclaimed: nfsdcld's database is on the shared DRBD filesystem.
# NFSv4.1+ only: v3 needs rpcbind, statd and NLM, and a v4.0 client never says
# it is done reclaiming, so grace could not end early.
grace=$(lab timings.nfs_grace_s)
nas_fs=$(lab paths.nas_fs)
cat >/tmp/nfs.conf <<CONF
[nfsd]
grace-time=$grace
lease-time=$(lab timings.nfs_lease_s)
vers3=n
vers4.0=n
[nfsdcld]
storagedir=$(lab paths.nfsdcld)
CONF
install_if_changed /tmp/nfs.conf /etc/nfs.conf.d/halab.conf 0644 || true
[ "$(nfsconf --get nfsd grace-time)" = "$grace" ] || die "nfsd grace-time not taken from /etc/nfs.conf.d"

# Pacemaker runs nfs-server (systemd:nfs-server), only where the DRBD filesystem
# is mounted. nfs-utils 2.6.2's rpc.nfsd cannot set the server scope (2.6.3 can):
# it is the hostname of the namespace that starts the threads, so start them in
# a namespace named after the service address, the same on both nodes.
reload=
mkdir -p /etc/systemd/system/nfs-server.service.d /etc/systemd/system/nfsdcld.service.d
cat >/tmp/nfs-server.conf <<UNIT
[Unit]
AssertPathIsMountPoint=$nas_fs
[Service]
ExecStart=
ExecStart=/usr/bin/unshare --uts /bin/sh -c 'hostname $(lab vip) && exec /usr/sbin/rpc.nfsd'
UNIT
install_if_changed /tmp/nfs-server.conf /etc/systemd/system/nfs-server.service.d/halab.conf 0644 && reload=1
# The kernel waits a second for nfsdcld before it falls back to another way of
# tracking clients: nfs-server starts after nfsdcld, so nfsdcld is ready only
# once its database is open.
cat >/tmp/nfsdcld.conf <<UNIT
[Unit]
PartOf=nfs-server.service
AssertPathIsMountPoint=$nas_fs
[Service]
ExecStartPost=/bin/sh -c 'for i in \$\$(seq 300); do [ -e $(lab paths.nfsdcld)/main.sqlite ] && exit 0; sleep 0.1; done; exit 1'
UNIT
install_if_changed /tmp/nfsdcld.conf /etc/systemd/system/nfsdcld.service.d/halab.conf 0644 && reload=1
install_if_changed "$here/ocf/nfsd-unit" /usr/lib/ocf/resource.d/halab/nfsd-unit 0755 || true
# NFSv4 only: nothing of NFSv3 runs.
for unit in rpcbind.service rpcbind.socket rpc-statd.service rpc-statd-notify.service nfs-blkmap.service; do
	if [ "$(systemctl is-enabled "$unit" 2>/dev/null)" != masked ]; then
		systemctl stop "$unit" 2>/dev/null || true
		systemctl mask --quiet "$unit"
		reload=1
	fi
done
[ -z "$reload" ] || systemctl daemon-reload
mkdir -p "$nas_fs"

