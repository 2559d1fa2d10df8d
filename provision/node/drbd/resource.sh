#!/usr/bin/env bash
# Print the lab's DRBD resource, named in lab.json (8.4 syntax: the Debian 12 kernel's DRBD is 8.4.11).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=SCRIPTDIR/../lib.sh
. "$here/lib.sh"
read -r first second <<<"$(lab_nodes nas)"
cat <<RES
resource $(lab drbd.resource) {
	protocol C;
	device $(lab drbd.device);
	disk $(lab drbd.disk);
	meta-disk internal;
	net {
		# Tenths of a second: TCG nodes on a busy host answer late.
		ping-timeout $(lab timings.drbd_ping_timeout_ds);
		after-sb-0pri discard-zero-changes;
		after-sb-1pri discard-secondary;
		after-sb-2pri disconnect;
	}
	disk {
		fencing resource-only;
		# A fixed resync rate: the default controller yields to application I/O down to
		# 250 KiB/s, and the guest writes all the time, so a NAS back from a crash took
		# 2 h to resync its 2 GiB (measured); at a fixed 60 MiB/s, 2 min under TCG.
		c-plan-ahead 0;
		resync-rate 60M;
		# A node that crashed as Primary resyncs every extent of its activity log
		# (drbdadm's apply-al before attach). The default 1237 extents (4.8 GiB) hold
		# all 512 of this disk once written: the crashed NAS got a full 2 GiB resync
		# (measured). 127 extents bound it to 508 MiB, for more metadata writes.
		al-extents 127;
	}
	handlers {
		# The 8.4 handlers; the .9.sh ones need DRBD 9.
		fence-peer "/usr/lib/drbd/crm-fence-peer.sh";
		after-resync-target "/usr/lib/drbd/crm-unfence-peer.sh";
	}
	on $first {
		address $(lab_node "$first" repl_ip):7789;
	}
	on $second {
		address $(lab_node "$second" repl_ip):7789;
	}
}
RES
