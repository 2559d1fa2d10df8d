"""Each cluster's membership files and configuration, made on the host before provisioning.

pcs writes corosync.conf in its offline mode and the keys are random bytes:
the nodes get identical files in the upload, and no pcsd has to carry them
between nodes (on TCG nodes pcsd's remote calls outlast pcs' timeouts). The
resources and constraints are built the same way, with pcs' file mode on the
host (each pcs call costs a TCG node 5-15 s), and pushed by provisioning.
"""

from __future__ import annotations

import os
import secrets
import subprocess
from pathlib import Path

from harness.config.lab import REPO, LabConfig
from harness.errors import HarnessError

# The scripts that build each cluster's CIB, in order (provision/host/pcs/).
CIB_SCRIPTS = {"nas": ("fencing.sh", "nas-resources.sh", "nas-first-start.sh"), "hv": ("fencing.sh", "hv-resources.sh")}
PCS_DIR = REPO / "provision" / "host" / "pcs"

CLUSTERS = {"nas": "nas", "hv": "hv"}  # cluster name by node role


class ClusterSetupError(HarnessError):
    pass


def write_cluster_files(config: LabConfig, accel_token_ms: int, out: Path, keys: Path) -> None:
    """corosync.conf under out/NAME/, keys under keys/ (created once, mode 0600)."""
    for role, name in CLUSTERS.items():
        folder = out / name
        folder.mkdir(parents=True, exist_ok=True)
        nodes = [word for node in config.nodes(role) for word in (node.name, f"addr={config.lab_ip(node.offset)}")]
        conf = folder / "corosync.conf"
        result = subprocess.run(
            ["pcs", "cluster", "setup", name, *nodes, "totem", f"token={accel_token_ms}",
             "--corosync_conf", str(conf), "--no-cluster-uuid", "--overwrite"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if result.returncode != 0:
            raise ClusterSetupError(f"pcs could not write corosync.conf for {name}: {result.stderr.strip()}")
        for key in (f"{name}-corosync-authkey", f"{name}-pacemaker-authkey"):
            path = keys / key
            if not path.exists():
                path.touch(mode=0o600)
                path.write_bytes(secrets.token_bytes(256))


def write_cluster_cibs(lab_json: Path, out: Path) -> dict[str, Path]:
    """out/NAME/cib.xml for each cluster, built by provision/host/pcs/ from lab.json."""
    made = {}
    for role, name in CLUSTERS.items():
        cib = out / name / "cib.xml"
        cib.parent.mkdir(parents=True, exist_ok=True)
        empty = subprocess.run(["cibadmin", "--empty"], capture_output=True, text=True, check=False)
        if empty.returncode != 0:
            raise ClusterSetupError(f"cibadmin --empty failed: {empty.stderr.strip()}; run 'ha-lab doctor --fix'")
        cib.write_text(empty.stdout)
        for script in CIB_SCRIPTS[role]:
            result = subprocess.run(
                [str(PCS_DIR / script), str(cib), role],
                capture_output=True, text=True, check=False, env={**os.environ, "LAB_JSON": str(lab_json)},
            )  # fmt: skip
            if result.returncode != 0:
                raise ClusterSetupError(f"{script} failed: {result.stderr.strip()}")
        made[name] = cib
    return made
