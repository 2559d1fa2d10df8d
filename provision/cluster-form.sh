#!/usr/bin/env bash
# Form a two-node Pacemaker cluster from this node, or check it is formed.
#   cluster-form.sh NAME NODE_A NODE_B      Idempotent.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=SCRIPTDIR/lib.sh
. "$here/lib.sh"
name=${1:?usage: cluster-form.sh NAME NODE_A NODE_B}
a=${2:?}
b=${3:?}

online_nodes() {
	crm_mon -1 --output-as=xml 2>/dev/null | python3 -c '
import sys, xml.etree.ElementTree as ET
print(sum(n.get("online") == "true" for n in ET.parse(sys.stdin).iter("node")))'
}
both_online() { [ "$(online_nodes)" = 2 ]; }

pcs host auth "$a" addr="$(lab_node "$a" lab_ip)" "$b" addr="$(lab_node "$b" lab_ip)" \
	-u hacluster -p "$(cat "$here/secrets/hacluster")" >/dev/null
if ! grep -qE "^\s*cluster_name:\s*$name\s*$" /etc/corosync/corosync.conf 2>/dev/null; then
	log "setting up cluster $name ($a, $b)"
	# --force: Debian ships a placeholder corosync.conf that pcs takes for a cluster.
	pcs cluster setup "$name" "$a" addr="$(lab_node "$a" lab_ip)" "$b" addr="$(lab_node "$b" lab_ip)" \
		totem token="$(lab timings.corosync_token_ms)" --force
fi
pcs cluster start --all --wait="$(lab timings.start_timeout_s)" >/dev/null
pcs cluster enable --all >/dev/null
wait_for 600 "both nodes of $name online" both_online
log "cluster $name: both nodes online"
