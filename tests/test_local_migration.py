"""A real live migration: the guest moves between two QEMU processes while the probe runs."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from harness.host.guest_image import GuestImage
from harness.host.local_migration import LocalMigration, migrate_locally
from harness.judging.json_report import write_timeline_json
from harness.judging.png_report import write_timeline_png
from tests.conftest import need

pytestmark = pytest.mark.component

HB_MS = 5


@pytest.fixture(scope="module")
def migration(guest_image: GuestImage, tmp_path_factory: pytest.TempPathFactory) -> LocalMigration:
    need("qemu-system-x86_64", "qemu-system-x86")
    workdir = tmp_path_factory.mktemp("migration")
    result = migrate_locally(guest_image, workdir, hb_ms=HB_MS, progress=print)
    # Evidence for a human, whether the test passes or not.
    write_timeline_json(workdir / "timeline.json", result.analysis, result.samples, {"qemu": result.qemu})
    write_timeline_png(workdir / "timeline.png", result.analysis, result.samples, title="local live migration")
    print(f"evidence in {workdir}")
    return result


def test_migration_completes_and_the_guest_runs_on_the_destination(migration: LocalMigration) -> None:
    assert migration.qemu["status"] == "completed"
    assert migration.source_status == "postmigrate"
    assert migration.destination_status == "running"


def test_guest_lived_through_it(migration: LocalMigration) -> None:
    analysis = migration.analysis
    assert analysis.resumed, "heartbeats did not come back after the migration"
    assert len(analysis.boot_ids) == 1 and analysis.boot_changes == [], "the guest rebooted"
    assert analysis.uptime_regressions == 0
    resumed_after = [s for s in migration.samples if s.host_ns > migration.markers["completed"].host_ns]
    assert len(resumed_after) > 100


def test_every_missing_heartbeat_falls_in_a_reported_freeze(migration: LocalMigration) -> None:
    analysis = migration.analysis
    assert analysis.reordered == 0
    assert analysis.lost == sum(w.lost or 0 for w in analysis.freezes), analysis.freezes


def test_observed_freeze_is_not_smaller_than_qemus_downtime(
    migration: LocalMigration, record_property: Callable[[str, object], None]
) -> None:
    window = migration.migration_freeze()
    assert window is not None, "no freeze seen during the migration"
    record_property("observer_freeze_ms", round(window.freeze_ms, 1))
    record_property("qemu_downtime_ms", migration.downtime_ms)
    record_property("qemu_total_time_ms", migration.total_time_ms)
    print(
        f"observer freeze {window.freeze_ms:.1f} ms, QEMU downtime {migration.downtime_ms:.0f} ms, "
        f"total {migration.total_time_ms:.0f} ms, guest-clock gap {window.guest_gap_ms} ms"
    )
    assert window.freeze_ms >= migration.downtime_ms - HB_MS


def test_no_acknowledged_record_lost(migration: LocalMigration) -> None:
    verification = migration.verification
    assert verification.upto > 100, "the disk loop barely ran"
    assert verification.ok, verification.summary()
    assert migration.analysis.disk is not None and migration.analysis.disk.errors == 0
