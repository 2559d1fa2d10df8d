"""The facts the harness and the provisioning share, each stated once.

The clusters' resource ids, the lab's paths on the nodes, DRBD's resource, the NFS
export and the fence group: Python imports them from here, and `LabConfig.render`
writes them into lab.json, where the shell reads them (`lab resources.guest`,
`lab paths.export`). Derived values (properties) are rendered too, so the shell
never joins a path itself.
"""

from __future__ import annotations

from dataclasses import dataclass, fields


class _Facts:
    def render(self) -> dict[str, object]:
        """Fields and properties alike, as lab.json holds them."""
        names = [f.name for f in fields(self)]  # type: ignore[arg-type]
        names += [name for name, value in vars(type(self)).items() if isinstance(value, property)]
        return {name: getattr(self, name) for name in names}


@dataclass(frozen=True)
class Resources(_Facts):
    """Pacemaker's ids of the clusters' resources (made by provision/host/pcs/)."""

    guest: str = "guest"  # the VirtualDomain, in the hypervisor cluster
    drbd: str = "drbd_r0"  # promotable: one Primary, where the NFS group runs
    nfs: str = "nfs"  # the group, in start order: block, fs, server, exports, ip, unblock
    nfs_fs: str = "nfs_fs"
    nfs_server: str = "nfs_server"
    nfs_export: str = "nfs_export"  # one exportfs for both vnodes (a clientspec covering exactly their addresses)
    nfs_ip: str = "nfs_ip"
    fence: str = "fence_"  # a prefix: each cluster's fence device, fence_<role>
    # A prefix: the first start's constraint, DRBD promoted only on the NAS founder (its name follows).
    init_promote: str = "halab-init-promote-"

    @property
    def drbd_clone(self) -> str:
        return f"{self.drbd}-clone"  # pcs' name for a promotable resource's clone

    @property
    def nfs_gate(self) -> str:
        """The NFS group's last member: started, clients reach a server that is whole (it serves);
        stopping first, clients lose the server before any of it stops."""
        return self.nfs_ip


@dataclass(frozen=True)
class Paths(_Facts):
    """Where the lab keeps things on its nodes."""

    nas_fs: str = "/srv/nfs"  # the DRBD filesystem, mounted on the NAS node that serves NFS
    vnode_mount: str = "/var/lib/halab/nfs"  # the export, mounted on each vnode
    guest_folder: str = "guest"  # the guest's kernel, initrd and disk image, in the export
    image: str = "disk.img"  # the guest's disk, raw: the probe's records are read from it
    state: str = "/var/lib/halab"  # the lab's own files on a node
    # The lab's logs: the guest's console on the vnodes; on the host, each lab's node consoles.
    logs: str = "/var/log/halab"
    config: str = "/etc/halab"  # lab.json (provision/node/lib.sh reads it there) and the guest's domain

    @property
    def export(self) -> str:
        return f"{self.nas_fs}/export"

    @property
    def nfs_info(self) -> str:
        return f"{self.nas_fs}/nfsinfo"  # nfsd's client state, moved with the service

    @property
    def nfsdcld(self) -> str:
        # Two levels below the mount point: on a node where the filesystem is not mounted nfsdcld
        # fails (its parent is missing) instead of starting an empty database of its own.
        return f"{self.nfs_info}/nfsdcld"

    @property
    def guest_on_nas(self) -> str:
        return f"{self.export}/{self.guest_folder}"

    @property
    def image_on_nas(self) -> str:
        return f"{self.guest_on_nas}/{self.image}"  # the guest's disk, on the NFS server's own filesystem

    @property
    def guest_dir(self) -> str:
        return f"{self.vnode_mount}/{self.guest_folder}"  # the guest's files, as the vnodes see them

    @property
    def image_on_vnode(self) -> str:
        return f"{self.guest_dir}/{self.image}"

    @property
    def provision(self) -> str:
        return f"{self.state}/provision"  # the upload of provision/node/, run from there

    @property
    def guest_changed(self) -> str:
        return f"{self.state}/guest-changed"  # a vnode's mark: its guest definition changed

    @property
    def guest_console(self) -> str:
        return f"{self.logs}/guest-console.log"

    @property
    def domain_xml(self) -> str:
        return f"{self.config}/guest.xml"


@dataclass(frozen=True)
class Drbd(_Facts):
    """The NAS nodes' replicated disk."""

    resource: str = "r0"
    device: str = "/dev/drbd0"
    disk: str = "/dev/vdb"  # the second disk the Vagrantfile attaches to each NAS node


@dataclass(frozen=True)
class Nfs(_Facts):
    port: int = 2049
    # sync, never async: async acknowledges writes a failover then loses.
    export_options: str = "rw,sync,no_root_squash,no_subtree_check"
    fsid: int = 1  # the same on both NAS nodes: clients keep their file handles across a move


@dataclass(frozen=True)
class Libvirt(_Facts):
    domain: str = "guest"  # the guest's libvirt name on the vnodes (virsh, its pid and log files)

    @property
    def pid_file(self) -> str:
        return f"/run/libvirt/qemu/{self.domain}.pid"  # libvirt's: the guest's QEMU found by its pid

    @property
    def qemu_log(self) -> str:
        return f"/var/log/libvirt/qemu/{self.domain}.log"


@dataclass(frozen=True)
class Fence(_Facts):
    """fence_xvm on the nodes, fence_virtd on the host."""

    multicast: str = "225.0.0.12"  # fence_xvm's default group
    key_file: str = "/etc/cluster/fence_xvm.key"  # on the nodes; the same name in the lab's secrets


RESOURCES = Resources()
PATHS = Paths()
DRBD = Drbd()
NFS = Nfs()
LIBVIRT = Libvirt()
FENCE = Fence()


def render() -> dict[str, dict[str, object]]:
    """Every fact, as lab.json holds them."""
    return {
        "resources": RESOURCES.render(),
        "paths": PATHS.render(),
        "drbd": DRBD.render(),
        "nfs": NFS.render(),
        "libvirt": LIBVIRT.render(),
        "fence": FENCE.render(),
    }
