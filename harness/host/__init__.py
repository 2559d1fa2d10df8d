"""The host's side of the lab: doctor, networks, fence_virtd, the box, the guest image, local QEMU."""
