#!/usr/bin/env bash
# Print the guest's libvirt domain: kernel, initrd and disk on the NFS export,
# the probe's settings on the kernel command line, a macvtap NIC on the lab
# network.  domain-xml.sh kvm|qemu
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=SCRIPTDIR/../lib.sh
. "$here/lib.sh"
type=${1:?usage: domain-xml.sh kvm|qemu}
dir=$(lab paths.guest_dir)
cat <<XML
<domain type='$type'>
  <name>$(lab libvirt.domain)</name>
  <memory unit='MiB'>192</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>$dir/vmlinuz</kernel>
    <initrd>$dir/initrd.img</initrd>
    <cmdline>console=ttyS0 quiet probe.observer=$(lab observer) probe.ip=$(lab guest_ip)/24 probe.gw=none probe.hb_ms=$(lab probe.hb_ms) probe.rec_ms=$(lab probe.rec_ms) probe.ring=$(lab probe.ring)</cmdline>
  </os>
  <!-- The same named model on both vnodes, and never invtsc: QEMU refuses to migrate it. -->
  <cpu mode='custom' match='exact' check='none'>
    <model fallback='forbid'>qemu64</model>
  </cpu>
  <!-- Without ACPI the kernel takes the legacy paths (PIT calibration, PCI
       probing): minutes of boot under nested KVM on TCG nodes, ~1 min with it. -->
  <features>
    <acpi/>
    <apic/>
  </features>
  <clock offset='utc'/>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <disk type='file' device='disk'>
      <!-- No host cache: an acknowledged write is on the NAS. Stop, not error, on I/O failure. -->
      <driver name='qemu' type='raw' cache='none' io='native' error_policy='stop'/>
      <source file='$(lab paths.image_on_vnode)'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <interface type='direct'>
      <mac address='52:54:00:4c:41:42'/>
      <source dev='eth1' mode='bridge'/>
      <model type='virtio'/>
    </interface>
    <serial type='file'>
      <source path='$(lab paths.guest_console)' append='on'/>
      <target port='0'/>
    </serial>
  </devices>
</domain>
XML
