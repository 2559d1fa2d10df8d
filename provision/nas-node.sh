#!/usr/bin/env bash
# A storage node: DRBD r0 on the second disk, and nfsd's settings. Pacemaker
# (set up by nas-cluster.sh) runs both. Idempotent.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=SCRIPTDIR/lib.sh
. "$here/lib.sh"

[ -b /dev/vdb ] || die "/dev/vdb missing: the DRBD disk was not attached (see the Vagrantfile)"
echo drbd >/etc/modules-load.d/drbd.conf
modprobe drbd

"$here/drbd/r0.res.sh" >/tmp/r0.res
if install_if_changed /tmp/r0.res /etc/drbd.d/r0.res 0644; then
	# A running resource takes the new settings in place.
	drbdadm status r0 >/dev/null 2>&1 && drbdadm adjust r0
fi
if ! drbdadm status r0 >/dev/null 2>&1 && ! drbdadm dump-md r0 >/dev/null 2>&1; then
	log "creating DRBD metadata on /dev/vdb"
	drbdadm -- --force create-md r0
fi

# Short grace and lease (defaults 90 s): a move of the NFS service stalls
# clients for about this long at most.
cat >/tmp/nfs.conf <<CONF
[nfsd]
grace-time=10
lease-time=10
CONF
install_if_changed /tmp/nfs.conf /etc/nfs.conf.d/halab.conf 0644 || true
[ "$(nfsconf --get nfsd grace-time)" = 10 ] || die "nfsd grace-time not taken from /etc/nfs.conf.d"
mkdir -p /srv/nfs

# Debian 12 trap: with iptables' nf_tables backend, `iptables -L` shows the
# protocol as "6", not "tcp"; resource-agents 4.12's portblock greps for
# "tcp", never sees its own DROP rule, and its unblock leaves NFS blocked.
# The legacy backend prints what portblock expects.
if [ "$(readlink -f /etc/alternatives/iptables)" != /usr/sbin/iptables-legacy ]; then
	update-alternatives --quiet --set iptables /usr/sbin/iptables-legacy
	update-alternatives --quiet --set ip6tables /usr/sbin/ip6tables-legacy
	# Rules made through the other backend are invisible now: drop them.
	iptables-nft -F INPUT
	log "switched iptables to the legacy backend (for portblock)"
fi
