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
changed_mark=/var/lib/halab/guest-changed # left by hv-node.sh and below when the guest's files change
guest_changed() { [ -e "$changed_mark" ] || peer_ssh "test -e $changed_mark"; }
forget_guest_change() {
	rm -f "$changed_mark"
	peer_ssh "rm -f $changed_mark"
}

# Migration runs over root SSH by name: both vnodes must know both host keys.
names="$first $second $(lab_node "$first" lab_ip) $(lab_node "$second" lab_ip)"
scan() {
	# shellcheck disable=SC2086 # one word per host
	ssh-keyscan -T 30 -t ed25519 $names 2>/dev/null | sort >/tmp/known_hosts
	[ "$(wc -l </tmp/known_hosts)" -eq 4 ]
}
# A busy TCG node may miss ssh-keyscan's 5 s default: wait longer, retry.
wait_for 300 "ssh-keyscan to reach both vnodes" scan
install_if_changed /tmp/known_hosts /root/.ssh/known_hosts 0644 || true
peer_ssh "cat > /root/.ssh/known_hosts" </tmp/known_hosts

vip=$(lab vip)
wait_for 600 "NFS at $vip" timeout 5 bash -c "</dev/tcp/$vip/2049"
mountpoint -q /var/lib/halab/nfs || mount /var/lib/halab/nfs
peer_ssh "mountpoint -q /var/lib/halab/nfs || mount /var/lib/halab/nfs"

guest=/var/lib/halab/nfs/guest
mkdir -p "$guest"
for file in vmlinuz initrd.img; do
	if install_if_changed "$here/guest-image/$file" "$guest/$file" 0644; then
		touch "$changed_mark"
	fi
done
# The probe's record ring, 4 KiB slots, must fit.
ring_mib=$(($(lab probe.ring) * 4096 / 1048576))
[ -f "$guest/disk.img" ] || truncate -s 64M "$guest/disk.img"
(($(stat -c %s "$guest/disk.img") >= ring_mib * 1048576)) || die "$guest/disk.img is smaller than the ${ring_mib} MiB ring"

# Pacemaker on the vnodes starts only with the export mounted.
systemctl is-active --quiet pacemaker || systemctl start pacemaker
peer_ssh "systemctl is-active --quiet pacemaker || systemctl start pacemaker"
wait_cluster_online 900
if ! in_cib "//primitive[@id='guest']"; then
	log "defining the guest"
	"$here/cib-push.py" "$here/cluster/hv/cib.xml"
	forget_guest_change # it starts from the files just installed: nothing to restart
fi
wait_for 900 "the guest started" sh -c 'crm_resource --resource guest --locate 2>/dev/null | grep -q "is running on"'
if guest_changed; then
	log "the guest's image or definition changed: restarting it"
	crm_resource --restart --resource guest --timeout="$(lab timings.start_timeout_s)s"
	forget_guest_change
fi
log "guest running on $(crm_resource --resource guest --locate | sed 's/.*running on: //')"
