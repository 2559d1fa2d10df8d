#!/usr/bin/env bash
# Start the guest in the vnodes' cluster; run on the hypervisor founder
# (lab.json's clusters.hv.founder) after hv-join.sh ran on both. Idempotent.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=SCRIPTDIR/lib.sh
. "$here/lib.sh"
founder=$(lab clusters.hv.founder)
[ "$(hostname)" = "$founder" ] || die "run hv-cluster.sh on $founder"
guest=$(lab paths.guest_dir)
resource=$(lab resources.guest)
mountpoint -q "$(lab paths.vnode_mount)" || die "the export is not mounted: run hv-join.sh on both vnodes first"
# Marks of a changed guest, on the shared export: hv-join.sh moves each vnode's there, and below.
guest_changed() { compgen -G "$guest/changed-*" >/dev/null; }
forget_guest_change() { rm -f "$guest"/changed-*; }

for file in vmlinuz initrd.img; do
	if install_if_changed "$here/guest-image/$file" "$guest/$file" 0644; then
		touch "$guest/changed-$(hostname)"
	fi
done
# The probe's record ring, 4 KiB slots, must fit.
ring_mib=$(($(lab probe.ring) * 4096 / 1048576))
image=$(lab paths.image_on_vnode)
[ -f "$image" ] || truncate -s 64M "$image"
(($(stat -c %s "$image") >= ring_mib * 1048576)) || die "$image is smaller than the ${ring_mib} MiB ring"

wait_cluster_online 900
if ! in_cib "//primitive[@id='$resource']"; then
	log "defining the guest"
	"$here/cib-push.py" "$here/cluster/hv/cib.xml"
	forget_guest_change # it starts from the files just installed: nothing to restart
else
	# A lab provisioned earlier gets this code's fence device and cluster properties;
	# its resources and constraints stay as they are.
	"$here/cib-push.py" --fencing-only "$here/cluster/hv/cib.xml"
fi
wait_for 900 "the guest started" resource_running "$resource"
if guest_changed; then
	log "the guest's image or definition changed: restarting it"
	crm_resource --restart --resource "$resource" --timeout="$(lab timings.start_timeout_s)s"
	forget_guest_change
fi
log "guest running on $(crm_resource --resource "$resource" --locate | sed 's/.*running on: //')"
