#!/usr/bin/env bash
# Define the hypervisor cluster's resources in a CIB file with pcs' file mode:
#   hv-resources.sh CIB_FILE
# Provisioning pushes the result to the live cluster; tests/ verifies the same
# file offline, and that moving the guest is a live migration.
set -euo pipefail
provision=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=SCRIPTDIR/../../node/lib.sh
. "$provision/node/lib.sh"
cib=${1:?usage: hv-resources.sh CIB_FILE}

# force_stop: the probe's guest has no clean shutdown to wait for (its acknowledged
# writes are on the NAS already), and a graceful stop would sit out the stop timeout.
# autoset_utilization_*: by default every monitor also runs a virsh dominfo and a crm_resource
# query per utilization attribute (six more programs), for a placement strategy this cluster
# does not use. On a loaded TCG vnode a monitor took 49-64 s with them and 22-32 s without
# (5 runs each, alternately); with them one timed out (120 s) right after a revert.
pcs -f "$cib" resource create "$(lab resources.guest)" ocf:heartbeat:VirtualDomain \
	config="$(lab paths.domain_xml)" hypervisor=qemu:///system migration_transport=ssh force_stop=true \
	autoset_utilization_cpu=false autoset_utilization_host_memory=false autoset_utilization_hv_memory=false \
	meta allow-migrate=true resource-stickiness=1000 \
	op start timeout="$(lab timings.start_timeout_s)" op stop timeout="$(lab timings.stop_timeout_s)" \
	op migrate_to timeout="$(lab timings.migrate_timeout_s)" \
	op migrate_from timeout="$(lab timings.migrate_timeout_s)" \
	op monitor interval="$(($(lab timings.monitor_interval_s) / 2))s" timeout="$(lab timings.monitor_timeout_s)"

# After its vnode dies, the guest starts on the other one while the dead QEMU's NFSv4 lock on
# the image lives until the NFS lease ends: QEMU refuses to start ("Failed to get write lock").
# A failed start is then retried on the same node (not fatal: the default would leave the guest
# stopped for good) until the lease has run out; the lock keeps two QEMUs off one image meanwhile.
pcs -f "$cib" property set start-failure-is-fatal=false
