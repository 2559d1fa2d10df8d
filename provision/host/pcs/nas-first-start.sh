#!/usr/bin/env bash
# The NAS cluster's first start, added to the CIB file nas-resources.sh made:
#   nas-first-start.sh CIB_FILE
# The NFS group waits (disabled) and DRBD may be promoted only on the NAS
# founder (lab.json's clusters.nas.founder) until nas-cluster.sh has skipped
# the initial sync and made the filesystem there; nas-cluster.sh then lifts both.
set -euo pipefail
provision=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=SCRIPTDIR/../../node/lib.sh
. "$provision/node/lib.sh"
cib=${1:?usage: nas-first-start.sh CIB_FILE}
founder=$(lab clusters.nas.founder)
pcs -f "$cib" resource disable "$(lab resources.nfs)"
pcs -f "$cib" constraint location "$(lab resources.drbd_clone)" rule \
	constraint-id="$(lab resources.init_promote)$founder" role=Promoted score=-INFINITY "#uname" ne "$founder"
