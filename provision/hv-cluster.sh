#!/usr/bin/env bash
# Mount the export on both vnodes, start their cluster and the guest; run on
# the second vnode after node.sh ran on both and the NAS serves NFS. Idempotent.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=SCRIPTDIR/lib.sh
. "$here/lib.sh"
read -r first second <<<"$(lab_nodes hv)"
[ "$(hostname)" = "$second" ] || die "run hv-cluster.sh on $second"
peer_ssh() { ssh -o BatchMode=yes "$first" "$@"; }

# Migration runs over root SSH by name: both vnodes must know both host keys.
names="$first $second $(lab_node "$first" lab_ip) $(lab_node "$second" lab_ip)"
# shellcheck disable=SC2086 # one word per host
ssh-keyscan -t ed25519 $names 2>/dev/null | sort >/tmp/known_hosts
[ "$(wc -l </tmp/known_hosts)" -eq 4 ] || die "ssh-keyscan did not reach both vnodes"
install_if_changed /tmp/known_hosts /root/.ssh/known_hosts 0644 || true
peer_ssh "cat > /root/.ssh/known_hosts" </tmp/known_hosts

vip=$(lab vip)
wait_for 600 "NFS at $vip" timeout 5 bash -c "</dev/tcp/$vip/2049"
mountpoint -q /var/lib/halab/nfs || mount /var/lib/halab/nfs
peer_ssh "mountpoint -q /var/lib/halab/nfs || mount /var/lib/halab/nfs"

guest=/var/lib/halab/nfs/guest
mkdir -p "$guest"
install_if_changed "$here/guest-image/vmlinuz" "$guest/vmlinuz" 0644 || true
install_if_changed "$here/guest-image/initrd.img" "$guest/initrd.img" 0644 || true
# The probe's record ring: 4096 slots of 4 KiB.
[ -f "$guest/disk.img" ] || truncate -s 64M "$guest/disk.img"

# Pacemaker on the vnodes starts only with the export mounted.
systemctl is-active --quiet pacemaker || systemctl start pacemaker
peer_ssh "systemctl is-active --quiet pacemaker || systemctl start pacemaker"
wait_cluster_online 900
if ! pcs resource config guest >/dev/null 2>&1; then
	log "defining the guest"
	pcs cluster cib /tmp/hv.cib
	"$here/pcs/hv-resources.sh" /tmp/hv.cib
	pcs cluster cib-push /tmp/hv.cib --config
fi
wait_for 900 "the guest started" sh -c 'crm_resource --resource guest --locate 2>/dev/null | grep -q "is running on"'
log "guest running on $(crm_resource --resource guest --locate | sed 's/.*running on: //')"
