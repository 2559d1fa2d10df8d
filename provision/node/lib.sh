# shellcheck shell=bash
# Sourced by the provisioning scripts: the lab's config and small helpers.
# The config is lab.json, rendered by the harness from lab.toml.
LAB_JSON=${LAB_JSON:-/etc/halab/lab.json}

# lab KEY.PATH: a value from lab.json ("vip", "timings.corosync_token_ms").
lab() {
	python3 - "$LAB_JSON" "$1" <<'PY'
import json, sys
value = json.load(open(sys.argv[1]))
for key in sys.argv[2].split("."):
    value = value[int(key)] if isinstance(value, list) else value[key]
print(value)
PY
}

# lab_node NAME FIELD: a field of one node ("lab_ip", "role").
lab_node() {
	python3 - "$LAB_JSON" "$1" "$2" <<'PY'
import json, sys
lab = json.load(open(sys.argv[1]))
print(next(n for n in lab["nodes"] if n["name"] == sys.argv[2])[sys.argv[3]])
PY
}

# lab_nodes ROLE: the names of the nodes with that role, in order.
lab_nodes() {
	python3 - "$LAB_JSON" "$1" <<'PY'
import json, sys
print(" ".join(n["name"] for n in json.load(open(sys.argv[1]))["nodes"] if n["role"] == sys.argv[2]))
PY
}

log() { echo "halab[$(hostname) $(date +%T)]: $*"; }
die() {
	echo "halab[$(hostname) $(date +%T)]: $*" >&2
	exit 1
}

# wait_for SECONDS DESCRIPTION COMMAND...: retry COMMAND every 2 s.
wait_for() {
	local seconds=$1 what=$2
	shift 2
	local deadline=$((SECONDS + seconds))
	until "$@" >/dev/null 2>&1; do
		((SECONDS < deadline)) || die "gave up after ${seconds} s waiting for $what"
		sleep 2
	done
}

# install_if_changed SRC DEST MODE: install SRC only when it differs; exit 0 if changed.
install_if_changed() {
	if [ -f "$2" ] && cmp -s "$1" "$2"; then
		return 1
	fi
	install -D -m "$3" "$1" "$2"
	log "wrote $2"
}

# in_cib XPATH: the live CIB has an element there.
in_cib() { cibadmin --query --xpath "$1" >/dev/null 2>&1; }

# resource_running ID: Pacemaker runs the resource on some node.
resource_running() { [[ $(crm_resource --resource "$1" --locate 2>/dev/null) == *"is running on"* ]]; }

# wait_cluster_online SECONDS: until both nodes of this node's cluster are online.
wait_cluster_online() {
	wait_for "$1" "both cluster nodes online" both_online
	log "cluster: both nodes online"
}
both_online() {
	[ "$(crm_mon -1 --output-as=xml 2>/dev/null | python3 -c '
import sys, xml.etree.ElementTree as ET
print(sum(n.get("online") == "true" for n in ET.parse(sys.stdin).iter("node")))')" = 2 ]
}
