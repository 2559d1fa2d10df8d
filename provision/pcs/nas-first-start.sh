#!/usr/bin/env bash
# The NAS cluster's first start, added to the CIB file nas-resources.sh made:
#   nas-first-start.sh CIB_FILE
# The NFS group waits (disabled) and DRBD may be promoted only on the second
# NAS node until nas-cluster.sh has skipped the initial sync and made the
# filesystem there; nas-cluster.sh then lifts both.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=SCRIPTDIR/../lib.sh
. "$here/lib.sh"
cib=${1:?usage: nas-first-start.sh CIB_FILE}
read -r first second <<<"$(lab_nodes nas)"
pcs -f "$cib" resource disable nfs
pcs -f "$cib" constraint location drbd_r0-clone rule constraint-id="halab-init-promote-$second" role=Promoted \
	score=-INFINITY "#uname" eq "$first"
