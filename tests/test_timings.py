"""The timings file: every value for every accelerator, or a clear error."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.config.timings import TIMINGS, TIMINGS_FILE, TimingsError, load_timings


def test_the_lab_has_timings_for_both_accelerators() -> None:
    assert set(TIMINGS) == {"kvm", "tcg"}
    # TCG nodes are slower in every respect: no timeout may be shorter there.
    kvm, tcg = TIMINGS["kvm"], TIMINGS["tcg"]
    assert [k for k, v in vars(kvm).items() if getattr(tcg, k) < v] == []


def test_a_missing_value_is_named(tmp_path: Path) -> None:
    broken = tmp_path / "timings.toml"
    broken.write_text(TIMINGS_FILE.read_text().replace("nfs_lease_s = 10 ", "nfs_lese_s = 10 "))
    with pytest.raises(TimingsError, match=r"\[tcg\]: missing \['nfs_lease_s'\], unknown \['nfs_lese_s'\]"):
        load_timings(broken)


def test_a_value_that_is_no_positive_number_is_refused(tmp_path: Path) -> None:
    broken = tmp_path / "timings.toml"
    broken.write_text(TIMINGS_FILE.read_text().replace("baseline_s = 10.0", 'baseline_s = "10"'))
    with pytest.raises(TimingsError, match=r"\[kvm\]: baseline_s: give a positive number"):
        load_timings(broken)


def test_a_lease_nfsd_would_refuse_is_named(tmp_path: Path) -> None:
    broken = tmp_path / "timings.toml"
    broken.write_text(TIMINGS_FILE.read_text().replace("nfs_lease_s = 10\n", "nfs_lease_s = 5\n", 1))
    with pytest.raises(TimingsError, match=r"\[kvm\]: nfs_lease_s: nfsd refuses under 10 s"):
        load_timings(broken)
