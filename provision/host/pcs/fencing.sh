#!/usr/bin/env bash
# Fencing for one two-node cluster, in a CIB file with pcs' file mode:
#   fencing.sh CIB_FILE ROLE        (ROLE: hv or nas)
# fence_xvm asks the host's fence_virtd (harness/host/fencing.py) to power-cycle
# the node's libvirt domain, signed with its cluster's key, on its cluster's port.
set -euo pipefail
provision=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=SCRIPTDIR/../../node/lib.sh
. "$provision/node/lib.sh"
cib=${1:?usage: fencing.sh CIB_FILE ROLE}
role=${2:?usage: fencing.sh CIB_FILE ROLE}
read -r first second <<<"$(lab_nodes "$role")"
[ -n "$second" ] || die "no two $role nodes in lab.json"
prefix=$(lab domain_prefix)
delay=$(lab timings.fence_delay_s)

# In a split, each node would fence the other. Fencing the second node waits
# $delay s, so the two never shoot at once. (priority-fencing-delay would favour
# the node running the service, but delays the fencing of a node that really died
# with the service on it: the failures the lab measures.)
pcs -f "$cib" property set stonith-enabled=true stonith-timeout="$((2 * delay + 90))s"
pcs -f "$cib" stonith create "$(lab resources.fence)$role" fence_xvm \
	pcmk_host_map="$first:$prefix$first;$second:$prefix$second" \
	key_file="$(lab fence.key_file)" multicast_address="$(lab fence.multicast)" ipport="$(lab "fence_ports.$role")" \
	pcmk_delay_base="$first:0s;$second:${delay}s" \
	op monitor interval="$(lab timings.monitor_interval_s)s" timeout="$(lab timings.monitor_timeout_s)"
