#!/usr/bin/env bash
# Provision one node: names, cluster daemon, and its role's storage or
# hypervisor set-up. Idempotent: a second run changes nothing.
#   node.sh NODE      (as root, from the uploaded provision/node/ folder)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
node=${1:?usage: node.sh NODE}
# shellcheck source=SCRIPTDIR/lib.sh
. "$here/lib.sh"
install -D -m 0644 "$here/lab.json" "$LAB_JSON"
role=$(lab_node "$node" role)

hosts_block() {
	echo "# halab begin: lab addresses (managed by provision/node/node.sh)"
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

# SSH by key only: hacluster has a password now, and no account may log in with one.
cat >/tmp/sshd-halab-lockdown.conf <<'SSH'
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
SSH
if install_if_changed /tmp/sshd-halab-lockdown.conf /etc/ssh/sshd_config.d/halab-lockdown.conf 0644; then
	sshd -t && systemctl reload ssh
fi

# The cluster daemon, with the lab's password for hacluster.
[ -s "$here/secrets/hacluster" ] || die "secrets/hacluster missing from the upload"
# The password is read from its file, never passed as an argument (ps would show it).
if ! python3 -W ignore::DeprecationWarning - "$here/secrets/hacluster" <<'PY'
import crypt, spwd, sys  # deprecated, still in Debian 12's Python 3.11
password = open(sys.argv[1]).read().strip()
hashed = spwd.getspnam("hacluster").sp_pwdp
sys.exit(0 if hashed not in ("", "!", "*") and crypt.crypt(password, hashed) == hashed else 1)
PY
then
	printf 'hacluster:%s\n' "$(cat "$here/secrets/hacluster")" | chpasswd
	log "set the hacluster password"
fi
# A revert steps each node's clock over hours or days: calendar timers would all fire at once,
# taking CPU a TCG node lacks while the restored lab settles. A lab lives for hours: none is needed.
# (The box disables the other background timers.)
for timer in dpkg-db-backup.timer logrotate.timer systemd-tmpfiles-clean.timer; do
	if systemctl is-enabled --quiet "$timer" 2>/dev/null; then
		systemctl disable --now --quiet "$timer"
		log "disabled $timer"
	fi
done
# The harness's SSH connections come and go (a revert drops them all): without lingering, each
# time the last one closes systemd stops vagrant's user manager and the next starts it again,
# seconds of CPU on a TCG node.
if [ "$(loginctl show-user vagrant --property=Linger --value 2>/dev/null)" != yes ]; then
	loginctl enable-linger vagrant
	log "vagrant's user manager lingers"
fi

# Fencing: fence_xvm signs its requests to the host's fence_virtd with its cluster's key
# (the other cluster's fence_virtd, with the other key, ignores them).
fence_key=$(lab fence.key_file)
install -d -m 0755 "$(dirname "$fence_key")"
install_if_changed "$here/secrets/fence_xvm-$role.key" "$fence_key" 0600 || true

# Cluster membership: corosync.conf and the keys were made on the host, the
# same for both nodes of a cluster (harness/host/cluster_files.py), like the CIBs
# that provisioning pushes with cibadmin. pcsd is not needed.
cluster=$role
changed=
install_if_changed "$here/cluster/$cluster/corosync.conf" /etc/corosync/corosync.conf 0644 && changed=1
install_if_changed "$here/secrets/$cluster-corosync-authkey" /etc/corosync/authkey 0400 && changed=1
install_if_changed "$here/secrets/$cluster-pacemaker-authkey" /etc/pacemaker/authkey 0640 && changed=1
chown hacluster:haclient /etc/pacemaker/authkey
systemctl disable --now pcsd 2>/dev/null || true
systemctl is-enabled --quiet corosync || systemctl enable corosync pacemaker
if [ -n "$changed" ] && systemctl is-active --quiet corosync; then
	systemctl restart corosync pacemaker
fi
# Starting may take minutes on a busy TCG node; don't let systemd give up.
for unit in corosync pacemaker; do
	printf '[Service]\nTimeoutStartSec=%s\n' "$(lab timings.start_timeout_s)" >/tmp/$unit.timeout.conf
	install_if_changed /tmp/$unit.timeout.conf "/etc/systemd/system/$unit.service.d/timeout.conf" 0644 &&
		systemctl daemon-reload
done
systemctl is-active --quiet corosync || systemctl start corosync
if [ "$role" = nas ] || mountpoint -q "$(lab paths.vnode_mount)"; then
	# A hypervisor's Pacemaker waits for the NFS mount (hv-node.sh); hv-cluster.sh starts it.
	systemctl is-active --quiet pacemaker || systemctl start pacemaker
fi

case "$role" in
nas) "$here/nas-node.sh" "$node" ;;
hv) "$here/hv-node.sh" "$node" ;;
*) die "unknown role $role for $node" ;;
esac
log "node provisioned ($role)"
