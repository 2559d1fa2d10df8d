#!/usr/bin/env bash
# Define the NAS cluster's resources in a CIB file with pcs' file mode:
#   nas-resources.sh CIB_FILE
# Provisioning pushes the result to the live cluster; tests/ verifies the same
# file offline with crm_verify and crm_simulate.
set -euo pipefail
provision=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=SCRIPTDIR/../../node/lib.sh
. "$provision/node/lib.sh"
cib=${1:?usage: nas-resources.sh CIB_FILE}
pcs_f() { pcs -f "$cib" "$@"; }

vip=$(lab vip)
group=(--group "$(lab resources.nfs)")
every=$(lab timings.monitor_interval_s)
ops=(op start timeout="$(lab timings.start_timeout_s)" op stop timeout="$(lab timings.stop_timeout_s)"
	op monitor interval="${every}s" timeout="$(lab timings.monitor_timeout_s)")

pcs_f resource defaults update resource-stickiness=100
# Each node has one vCPU, and Pacemaker then lets it run one action at a time as
# soon as its load average passes 0.96 ("High CPU load detected": 1.0-3.6 on TCG
# nodes during a move), so every first monitor in the NFS chain waits for, or
# holds up, the next start. A load target of 500% keeps that throttle off below
# a load of 6, and node-action-limit lets a monitor run beside the next start.
pcs_f property set load-threshold=500% node-action-limit=4

# DRBD: one Primary at most, promoted by Pacemaker (not systemd, not by hand).
pcs_f resource create "$(lab resources.drbd)" ocf:linbit:drbd drbd_resource="$(lab drbd.resource)" \
	op start timeout="$(lab timings.start_timeout_s)" op stop timeout="$(lab timings.stop_timeout_s)" \
	op promote timeout="$(lab timings.start_timeout_s)" op demote timeout="$(lab timings.stop_timeout_s)" \
	op monitor interval="$((every + 9))s" role=Promoted timeout="$(lab timings.monitor_timeout_s)" \
	op monitor interval="$((every + 11))s" role=Unpromoted timeout="$(lab timings.monitor_timeout_s)" \
	promotable promoted-max=1 promoted-node-max=1 clone-max=2 clone-node-max=1 notify=true

# The NFS service, in start order. The address comes last and goes first: clients
# reach the server only once all of it runs, and lose it before any of it stops,
# so they retry (hard mounts) instead of meeting a half-started server. No port
# blocking: a client whose SYNs were dropped while the address was already up
# backed off (1, 2, 4, 8 s ...) and came back up to 8 s after the server served.
pcs_f resource create "$(lab resources.nfs_fs)" ocf:heartbeat:Filesystem device="$(lab drbd.device)" \
	directory="$(lab paths.nas_fs)" fstype=ext4 options=noatime "${ops[@]}" "${group[@]}"
# nfsd as the distribution's own unit (provision/node/nas-node.sh gives it the
# server scope and nfsdcld's database on the DRBD filesystem, so clients reclaim
# their locks after a move and grace ends early): resource-agents' nfsserver ran
# about 25 systemctl calls per start and 14 per stop on top of the same work.
# (provision/node/ocf/nfsd-unit: Pacemaker 2.1.5's systemd class fails a start whose job
# still waits for the unit's dependencies.) --force: pcs looks for the agent on the host;
# it is the nodes'.
pcs_f resource create "$(lab resources.nfs_server)" ocf:halab:nfsd-unit "${ops[@]}" "${group[@]}" --force
# One export for both vnodes: its clientspec covers their two addresses and no
# other (nfs_clients in lab.json). The options are sync, never async: async
# acknowledges writes a failover then loses.
pcs_f resource create "$(lab resources.nfs_export)" ocf:heartbeat:exportfs clientspec="$(lab nfs_clients)" \
	directory="$(lab paths.export)" fsid="$(lab nfs.fsid)" options="$(lab nfs.export_options)" rmtab_backup=none \
	"${ops[@]}" "${group[@]}"
pcs_f resource create "$(lab resources.nfs_ip)" ocf:heartbeat:IPaddr2 ip="$vip" cidr_netmask=24 nic=eth1 \
	"${ops[@]}" "${group[@]}"

clone=$(lab resources.drbd_clone)
pcs_f constraint order promote "$clone" "then" start "$(lab resources.nfs)"
pcs_f constraint colocation add "$(lab resources.nfs)" with Promoted "$clone" INFINITY
