#!/usr/bin/env bash
# Define the NAS cluster's resources and start the NFS service on the second
# NAS node; run there after node.sh ran on both NAS nodes. Idempotent.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=SCRIPTDIR/lib.sh
. "$here/lib.sh"
read -r _ second <<<"$(lab_nodes nas)"
[ "$(hostname)" = "$second" ] || die "run nas-cluster.sh on $second"
wait_cluster_online 900

drbd_is() { [ "$(drbdadm "$1" r0 2>/dev/null)" = "$2" ]; }

init_constraint=halab-init-promote-$second
if ! in_cib "//clone[@id='drbd_r0-clone']"; then
	# First start (pcs/nas-first-start.sh): the NFS group waits while DRBD
	# skips its initial sync and gets a filesystem, on this node.
	log "defining the NAS resources"
	"$here/cib-push.py" "$here/cluster/nas/cib.xml"
fi
# A lab provisioned before fencing existed gets its fence device, nothing else changed.
if ! in_cib "//primitive[@class='stonith']"; then
	log "turning fencing on"
	"$here/cib-push.py" --fencing-only "$here/cluster/nas/cib.xml"
fi

wait_for 600 "DRBD r0 connected" drbd_is cstate Connected
if [ "$(drbdadm dstate r0)" = Inconsistent/Inconsistent ]; then
	# Both disks are new and empty: nothing to sync (a full sync of 2 GiB
	# takes ~5 min under TCG).
	log "DRBD r0: new, skipping the initial sync"
	drbdadm -- --clear-bitmap new-current-uuid r0
fi
wait_for 600 "DRBD r0 UpToDate on both" drbd_is dstate UpToDate/UpToDate

if in_cib "//rsc_location[@id='$init_constraint']"; then
	wait_for 600 "DRBD r0 primary here" drbd_is role Primary/Secondary
	if ! blkid /dev/drbd0 >/dev/null 2>&1; then
		log "making the filesystem on /dev/drbd0"
		mkfs.ext4 -q -L nfs /dev/drbd0
	fi
	mount /dev/drbd0 /srv/nfs
	mkdir -p /srv/nfs/export/guest /srv/nfs/nfsinfo /srv/nfs/tickle
	umount /srv/nfs
	cibadmin --delete --xml-text "<rsc_location id='$init_constraint'/>"
fi
# What `pcs resource enable nfs` does, without pcs' start-up time.
crm_resource --resource nfs --meta --delete-parameter target-role >/dev/null 2>&1 || true
wait_for 900 "the NFS service started" sh -c 'crm_resource --resource nfs --locate 2>/dev/null | grep -q "is running on"'
log "NFS service running on $(crm_resource --resource nfs --locate | sed 's/.*running on: //')"
