#!/usr/bin/env bash
# mmdebstrap customize hook: make the root in $1 a Vagrant box for the lab.
# BOX_ROOT_UUID and BOX_VAGRANT_KEY_FILE come from build-box.sh.
set -euo pipefail
root=${1:?root directory}
in_root() { chroot "$root" "$@"; }

echo "UUID=$BOX_ROOT_UUID / ext4 errors=remount-ro 0 1" >"$root/etc/fstab"
echo "halab" >"$root/etc/hostname"
# Each node makes its own machine-id at first boot (DHCP and corosync want them distinct).
: >"$root/etc/machine-id"

cat >"$root/etc/network/interfaces" <<'NET'
auto lo
iface lo inet loopback

auto eth0
iface eth0 inet dhcp
NET

# Vagrant's user: its insecure key, replaced by a per-machine key on first `vagrant up`.
in_root useradd --create-home --shell /bin/bash vagrant
install -d -m 0700 -o 1000 -g 1000 "$root/home/vagrant/.ssh"
install -m 0600 -o 1000 -g 1000 "$BOX_VAGRANT_KEY_FILE" "$root/home/vagrant/.ssh/authorized_keys"
# libvirt: the harness reads the vnodes' libvirt over SSH as this user.
in_root adduser --quiet vagrant libvirt
echo "vagrant ALL=(ALL) NOPASSWD: ALL" >"$root/etc/sudoers.d/vagrant"
chmod 0440 "$root/etc/sudoers.d/vagrant"

# SSH: no DNS lookups; host keys made at first boot, and no RSA key: its
# generation takes ~40 s under TCG.
rm -f "$root"/etc/ssh/ssh_host_*
cat >"$root/etc/ssh/sshd_config.d/halab.conf" <<'SSH'
UseDNS no
HostKey /etc/ssh/ssh_host_ed25519_key
HostKey /etc/ssh/ssh_host_ecdsa_key
SSH
cat >"$root/etc/systemd/system/halab-hostkeys.service" <<'UNIT'
[Unit]
Description=Make SSH host keys (ed25519, ecdsa) on first boot
Before=ssh.service
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -q -t ed25519 -N "" -f /etc/ssh/ssh_host_ed25519_key
ExecStart=/usr/bin/ssh-keygen -q -t ecdsa -N "" -f /etc/ssh/ssh_host_ecdsa_key

[Install]
WantedBy=multi-user.target
UNIT
in_root systemctl enable halab-hostkeys.service
# At every boot each node prints its host keys and their fingerprints on its serial console,
# which only the host reads: the harness learns them there (out of band) rather than trusting
# whatever answers first on the network, and checks them on every SSH call after.
cat >"$root/usr/local/sbin/halab-print-hostkeys" <<'PRINT'
#!/bin/sh
set -eu
for pub in /etc/ssh/ssh_host_ed25519_key.pub /etc/ssh/ssh_host_ecdsa_key.pub; do
	key=$(cut -d' ' -f1,2 "$pub")
	fingerprint=$(ssh-keygen -l -E sha256 -f "$pub" | cut -d' ' -f2)
	echo "halab-hostkey $key $fingerprint"
done >/dev/ttyS0
echo "halab-hostkeys-done" >/dev/ttyS0
PRINT
chmod 0755 "$root/usr/local/sbin/halab-print-hostkeys"
cat >"$root/etc/systemd/system/halab-print-hostkeys.service" <<'UNIT'
[Unit]
Description=Print the SSH host keys on the serial console, for the host to learn them
After=halab-hostkeys.service
Before=ssh.service

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/halab-print-hostkeys

[Install]
WantedBy=multi-user.target
UNIT
in_root systemctl enable halab-print-hostkeys.service

# Pacemaker owns DRBD, nfsd and the guest; the clusters are started by provisioning.
in_root systemctl disable drbd.service nfs-server.service corosync.service pacemaker.service 2>/dev/null || true
# Debian 12 trap: with /etc/init.d/nfs-kernel-server present, resource-agents
# 4.12's nfsserver uses init-script mode, whose stop leaves nfsdcld and mountd
# running; the unmount then fails and the node is fenced (resource-agents
# issue 2005). Without the script it uses systemd mode.
in_root dpkg-divert --local --rename --divert /etc/init.d/nfs-kernel-server.halab-disabled \
	--add /etc/init.d/nfs-kernel-server
# Background work that only steals CPU from TCG nodes.
in_root systemctl disable apt-daily.timer apt-daily-upgrade.timer man-db.timer e2scrub_all.timer \
	fstrim.timer 2>/dev/null || true
in_root apt-get clean
rm -rf "$root"/var/lib/apt/lists/*
