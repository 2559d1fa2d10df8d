#!/usr/bin/env bash
# Provision one node: names, cluster daemon, and its role's storage or
# hypervisor set-up. Idempotent: a second run changes nothing.
#   node.sh NODE      (as root, from the uploaded provision/ folder)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
node=${1:?usage: node.sh NODE}
install -D -m 0644 "$here/lab.json" /etc/halab/lab.json
# shellcheck source=SCRIPTDIR/lib.sh
. "$here/lib.sh"
role=$(lab_node "$node" role)

hosts_block() {
	echo "# halab begin: lab addresses (managed by provision/node.sh)"
	python3 - "$LAB_JSON" <<'PY'
import json, sys
lab = json.load(open(sys.argv[1]))
for node in lab["nodes"]:
    print(f'{node["lab_ip"]} {node["name"]}')
print(f'{lab["vip"]} nfs-vip')
PY
	echo "# halab end"
}

# Vagrant maps the hostname to 127.0.x.1; corosync and libvirt migration then
# talk to themselves. Names resolve to lab addresses instead.
sed -e '/# halab begin/,/# halab end/d' -e "/^127\.[0-9.]*[[:space:]].*\b$node\b/d" /etc/hosts >/tmp/hosts.new
hosts_block >>/tmp/hosts.new
install_if_changed /tmp/hosts.new /etc/hosts 0644 || true
hostnamectl hostname "$node" 2>/dev/null || hostname "$node"

# The cluster daemon, with the lab's password for hacluster.
[ -s "$here/secrets/hacluster" ] || die "secrets/hacluster missing from the upload"
if ! python3 -W ignore::DeprecationWarning - "$(cat "$here/secrets/hacluster")" <<'PY'
import crypt, spwd, sys  # deprecated, still in Debian 12's Python 3.11
hashed = spwd.getspnam("hacluster").sp_pwdp
sys.exit(0 if hashed not in ("", "!", "*") and crypt.crypt(sys.argv[1], hashed) == hashed else 1)
PY
then
	echo "hacluster:$(cat "$here/secrets/hacluster")" | chpasswd
	log "set the hacluster password"
fi
# pcsd (Python and Ruby) needs minutes to start on a busy TCG node; systemd's
# default 90 s kills it.
printf '[Service]\nTimeoutStartSec=%s\n' "$(lab timings.start_timeout_s)" >/tmp/pcsd.conf
if install_if_changed /tmp/pcsd.conf /etc/systemd/system/pcsd.service.d/halab.conf 0644; then
	systemctl daemon-reload
fi
systemctl is-enabled --quiet pcsd || systemctl enable pcsd
systemctl is-active --quiet pcsd || systemctl start pcsd

case "$role" in
nas) "$here/nas-node.sh" "$node" ;;
hv) "$here/hv-node.sh" "$node" ;;
*) die "unknown role $role for $node" ;;
esac
log "node provisioned ($role)"
