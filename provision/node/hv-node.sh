#!/usr/bin/env bash
# A hypervisor node: KVM (nested) if the CPU offers it, libvirt, the NFS mount
# point, root SSH for migration, and the guest's domain XML. Idempotent.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=SCRIPTDIR/lib.sh
. "$here/lib.sh"

if grep -qw svm /proc/cpuinfo; then
	modprobe kvm_amd
elif grep -qw vmx /proc/cpuinfo; then
	modprobe kvm_intel
fi
if [ -c /dev/kvm ]; then domain_type=kvm; else domain_type=qemu; fi
log "the guest will run with domain type $domain_type"

# QEMU runs as root without relabelling: the guest's files are on NFS, shared
# by both nodes, where ownership changes and AppArmor profiles get in the way.
cat >/tmp/qemu.conf.halab <<'CONF'
user = "root"
group = "root"
dynamic_ownership = 0
security_driver = "none"
CONF
if ! grep -q '^# halab' /etc/libvirt/qemu.conf; then
	{
		echo "# halab: settings below are the lab's (provision/node/hv-node.sh)"
		cat /tmp/qemu.conf.halab
	} >>/etc/libvirt/qemu.conf
	systemctl restart libvirtd
	log "configured libvirt's QEMU driver"
fi
systemctl is-active --quiet libvirtd || systemctl start libvirtd

# Root SSH between the vnodes, for migration only: the key is the lab's, only
# the vnodes' lab addresses may use it, and whatever the client asks for, it
# gets libvirt's socket proxy (what a qemu+ssh:// connection runs) and nothing else.
install -d -m 0700 /root/.ssh
install -m 0600 "$here/secrets/migration_key" /root/.ssh/id_ed25519
install -m 0644 "$here/secrets/migration_key.pub" /root/.ssh/id_ed25519.pub
from=$(for n in $(lab_nodes hv); do printf '%s,' "$(lab_node "$n" lab_ip)"; done)
echo "restrict,from=\"${from%,}\",command=\"/usr/bin/virt-ssh-helper qemu:///system\" $(cat "$here/secrets/migration_key.pub")" >/tmp/authorized_keys
install_if_changed /tmp/authorized_keys /root/.ssh/authorized_keys 0600 || true

# The NFS export, mounted once the NAS cluster serves it (hv-cluster.sh);
# Pacemaker starts only after it.
nfs_mount=$(lab paths.vnode_mount)
mkdir -p "$nfs_mount" "$(lab paths.logs)"
echo "$(lab vip):$(lab paths.export) $nfs_mount nfs4 vers=4.2,hard,proto=tcp,timeo=100,retrans=3,_netdev,nofail 0 0" >/tmp/fstab.line
if ! grep -qF "$(cat /tmp/fstab.line)" /etc/fstab; then
	sed -i "\\#$nfs_mount#d" /etc/fstab
	cat /tmp/fstab.line >>/etc/fstab
	systemctl daemon-reload
	log "added the NFS mount to /etc/fstab"
fi
cat >/tmp/pacemaker.conf <<CONF
[Unit]
RequiresMountsFor=$nfs_mount
CONF
if install_if_changed /tmp/pacemaker.conf /etc/systemd/system/pacemaker.service.d/halab.conf 0644; then
	systemctl daemon-reload
fi

"$here/guest/domain-xml.sh" "$domain_type" >/tmp/guest.xml
if install_if_changed /tmp/guest.xml "$(lab paths.domain_xml)" 0644; then
	# A running guest keeps its old definition: hv-cluster.sh restarts it.
	touch "$(lab paths.guest_changed)"
fi
