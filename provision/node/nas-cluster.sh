#!/usr/bin/env bash
# Define the NAS cluster's resources and start the NFS service on the NAS
# founder (lab.json's clusters.nas.founder); run there after node.sh ran on
# both NAS nodes. Idempotent.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=SCRIPTDIR/lib.sh
. "$here/lib.sh"
founder=$(lab clusters.nas.founder)
[ "$(hostname)" = "$founder" ] || die "run nas-cluster.sh on $founder"
wait_cluster_online 900

res=$(lab drbd.resource)
device=$(lab drbd.device)
nfs=$(lab resources.nfs)
drbd_is() { [ "$(drbdadm "$1" "$res" 2>/dev/null)" = "$2" ]; }

init_constraint=$(lab resources.init_promote)$founder
if ! in_cib "//clone[@id='$(lab resources.drbd_clone)']"; then
	# First start (provision/host/pcs/nas-first-start.sh): the NFS group waits
	# while DRBD skips its initial sync and gets a filesystem, on this node.
	log "defining the NAS resources"
	"$here/cib-push.py" "$here/cluster/nas/cib.xml"
else
	# A lab provisioned earlier gets this code's fence device and cluster properties;
	# its resources and constraints stay as they are.
	"$here/cib-push.py" --fencing-only "$here/cluster/nas/cib.xml"
fi

wait_for 600 "DRBD $res connected" drbd_is cstate Connected
if [ "$(drbdadm dstate "$res")" = Inconsistent/Inconsistent ]; then
	# Both disks are new and empty: nothing to sync (a full sync of 2 GiB
	# takes ~5 min under TCG).
	log "DRBD $res: new, skipping the initial sync"
	drbdadm -- --clear-bitmap new-current-uuid "$res"
fi
wait_for 600 "DRBD $res UpToDate on both" drbd_is dstate UpToDate/UpToDate

if in_cib "//rsc_location[@id='$init_constraint']"; then
	wait_for 600 "DRBD $res primary here" drbd_is role Primary/Secondary
	if ! blkid "$device" >/dev/null 2>&1; then
		log "making the filesystem on $device"
		mkfs.ext4 -q -L nfs "$device"
	fi
	fs=$(lab paths.nas_fs)
	mount "$device" "$fs"
	mkdir -p "$(lab paths.guest_on_nas)" "$(lab paths.nfsdcld)"
	umount "$fs"
	cibadmin --delete --xml-text "<rsc_location id='$init_constraint'/>"
fi
# What `pcs resource enable` does for the NFS group, without pcs' start-up time.
crm_resource --resource "$nfs" --meta --delete-parameter target-role >/dev/null 2>&1 || true
wait_for 900 "the NFS service started" resource_running "$nfs"
log "NFS service running on $(crm_resource --resource "$nfs" --locate | sed 's/.*running on: //')"
