"""How long the lab waits for what, per accelerator (timings.toml), and how the guest's probe runs."""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass
from pathlib import Path

from harness.errors import HarnessError

TIMINGS_FILE = Path(__file__).with_name("timings.toml")
NFSD_MIN_LEASE_S = 10  # the kernel's floor for /proc/fs/nfsd/nfsv4leasetime


class TimingsError(HarnessError, ValueError):
    """A timings file that does not give every value for every accelerator."""


@dataclass(frozen=True)
class Timings:
    """Cluster and agent timeouts; the file says why each is what it is."""

    corosync_token_ms: int
    drbd_ping_timeout_ds: int
    migrate_timeout_s: int
    start_timeout_s: int
    stop_timeout_s: int
    monitor_timeout_s: int
    nfs_grace_s: int
    nfs_lease_s: int
    monitor_interval_s: int
    crm_mon_poll_s: float
    fence_delay_s: int
    baseline_s: float


def load_timings(path: Path = TIMINGS_FILE) -> dict[str, Timings]:
    """Each accelerator's timings; every field of `Timings` must be there, and nothing else."""
    fields = {f.name: f.type for f in dataclasses.fields(Timings)}
    table = tomllib.loads(path.read_text())
    timings = {}
    for accel, values in table.items():
        missing, unknown = sorted(set(fields) - set(values)), sorted(set(values) - set(fields))
        if missing or unknown:
            raise TimingsError(f"{path} [{accel}]: missing {missing}, unknown {unknown}; the keys are {sorted(fields)}")
        wrong = [k for k, v in values.items() if isinstance(v, bool) or not isinstance(v, int | float) or v <= 0]
        if wrong:
            raise TimingsError(f"{path} [{accel}]: {', '.join(wrong)}: give a positive number")
        if values["nfs_lease_s"] < NFSD_MIN_LEASE_S:
            floor = NFSD_MIN_LEASE_S
            raise TimingsError(f"{path} [{accel}]: nfs_lease_s: nfsd refuses under {floor} s; give {floor} or more")
        timings[accel] = Timings(**{k: (float(v) if fields[k] == "float" else int(v)) for k, v in values.items()})
    return timings


TIMINGS = load_timings()


@dataclass(frozen=True)
class ProbeSettings:
    """How the lab's guest runs its probe (kernel command line, see provision/host/guest/init)."""

    hb_ms: int = 5
    rec_ms: int = 50
    # 4 KiB slots: 32 MiB of the guest's disk, 410 s of records at 50 ms, longer than any move.
    ring: int = 8192


PROBE = ProbeSettings()
