"""The clusters as the nodes report them: Pacemaker, DRBD, libvirt, placement and moves, watchers."""
