"""Syncing schedules and sensors declared in code into the ledger, across restarts.

Each "restart" builds the project and the service context again from scratch on
the same database, as a daemon starting up would.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from arco import (
    DailyPartitionsDefinition,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    Definitions,
    ScheduleDefinition,
    asset,
    push_sensor,
    sensor,
)
from arco.clock import ManualClock
from arco.compactor import Compactor
from arco.errors import StorageError
from arco.events import ScheduleCreated, ScheduleUpdated, SensorCreated, SensorUpdated
from arco.fold.rows import Scope
from arco.ledger import SqlLedger
from arco.secrets import TenantSecrets
from arco.services import ServiceContext
from arco.services import schedules as schedule_service
from arco.services import sensors as sensor_service
from arco.services.definitions import SyncReport, sync_definitions
from arco.storage.reader import ProjectionReader
from support.factories import SECRET, TENANT, WORKSPACE

SCOPE = Scope(TENANT, WORKSPACE)
DAILY = DailyPartitionsDefinition(start_date="2024-01-01")


def project(*, cron: str = "30 2 * * *", poll_interval: int = 30) -> Definitions:
    @asset(partitions_def=DAILY)
    def raw() -> None: ...

    nightly = ScheduleDefinition(
        "nightly", cron_schedule=cron, target=[raw], default_status=DefaultScheduleStatus.RUNNING
    )
    hourly = ScheduleDefinition("hourly", cron_schedule="0 * * * *", target=[raw])

    @sensor(
        asset_selection=[raw],
        minimum_interval_seconds=poll_interval,
        default_status=DefaultSensorStatus.RUNNING,
    )
    def watch() -> None: ...

    @push_sensor(asset_selection=[raw])
    def inbox() -> None: ...

    return Definitions(assets=[raw], schedules=[nightly, hourly], sensors=[watch, inbox])


def restart(ledger: SqlLedger, compactor: Compactor, definitions: Definitions) -> SyncReport:
    compactor.catch_up()
    context = ServiceContext(
        SCOPE,
        ledger,
        ProjectionReader(ledger.engine),
        TenantSecrets({TENANT: SECRET}),
        ManualClock(datetime(2024, 6, 1, tzinfo=UTC)),
        actor="daemon",
    )
    report = sync_definitions(context, definitions)
    compactor.catch_up()
    return report


def context_for(ledger: SqlLedger) -> ServiceContext:
    return ServiceContext(
        SCOPE,
        ledger,
        ProjectionReader(ledger.engine),
        TenantSecrets({TENANT: SECRET}),
        ManualClock(datetime(2024, 6, 1, tzinfo=UTC)),
    )


def test_first_sync_creates_everything_with_its_default_status(
    ledger: SqlLedger, compactor: Compactor
) -> None:
    report = restart(ledger, compactor, project())
    assert report.created == ["schedule:hourly", "schedule:nightly", "sensor:inbox", "sensor:watch"]
    assert report.updated == report.unchanged == []
    ctx = context_for(ledger)
    nightly = schedule_service.get_schedule(ctx, report.schedule_ids["nightly"])
    assert (nightly["name"], nightly["enabled"]) == ("nightly", True)
    assert schedule_service.get_schedule(ctx, report.schedule_ids["hourly"])["enabled"] is False
    assert sensor_service.get(ctx, report.sensor_ids["watch"])["enabled"] is True
    assert sensor_service.get(ctx, report.sensor_ids["inbox"])["kind"] == "push"


def test_a_restart_with_the_same_code_keeps_ids_and_appends_nothing(
    ledger: SqlLedger, compactor: Compactor
) -> None:
    first = restart(ledger, compactor, project())
    head = ledger.head()
    second = restart(ledger, compactor, project())
    assert ledger.head() == head
    assert second.schedule_ids == first.schedule_ids
    assert second.sensor_ids == first.sensor_ids
    assert second.created == second.updated == []
    assert len(second.unchanged) == 4


def test_changed_code_updates_in_place_under_the_same_id(
    ledger: SqlLedger, compactor: Compactor
) -> None:
    first = restart(ledger, compactor, project())
    head = ledger.head()
    changed = restart(ledger, compactor, project(cron="45 3 * * *", poll_interval=60))
    assert changed.updated == ["schedule:nightly", "sensor:watch"]
    assert changed.schedule_ids == first.schedule_ids
    assert changed.sensor_ids == first.sensor_ids
    appended = [e.data for e in ledger.read(after_offset=head)]
    assert [type(p) for p in appended] == [ScheduleUpdated, SensorUpdated]
    ctx = context_for(ledger)
    spec = schedule_service.get_schedule(ctx, first.schedule_ids["nightly"])["spec"]
    assert spec["cron"] == "45 3 * * *"  # type: ignore[index]


def test_an_operator_pause_survives_a_restart(ledger: SqlLedger, compactor: Compactor) -> None:
    """default_status only applies when the definition is first created, as in Dagster."""
    first = restart(ledger, compactor, project())
    schedule_service.pause_schedule(context_for(ledger), first.schedule_ids["nightly"])
    restart(ledger, compactor, project())
    ctx = context_for(ledger)
    assert schedule_service.get_schedule(ctx, first.schedule_ids["nightly"])["enabled"] is False


def test_definitions_missing_from_code_are_reported_not_deleted(
    ledger: SqlLedger, compactor: Compactor
) -> None:
    first = restart(ledger, compactor, project())
    smaller = project()
    report = restart(
        ledger,
        compactor,
        Definitions(assets=smaller.assets, schedules=smaller.schedules[:1], sensors=()),
    )
    assert report.not_in_code == ["schedule:hourly", "sensor:inbox", "sensor:watch"]
    ctx = context_for(ledger)
    assert schedule_service.get_schedule(ctx, first.schedule_ids["hourly"])["name"] == "hourly"


def test_two_syncs_racing_before_compaction_create_each_definition_once(
    ledger: SqlLedger, compactor: Compactor
) -> None:
    """Ids of code-defined definitions derive from their names, so racing creates collide."""
    ctx = context_for(ledger)
    first = sync_definitions(ctx, project(), wait_seconds=None)
    second = sync_definitions(ctx, project(), wait_seconds=None)  # nothing folded between
    assert first.schedule_ids == second.schedule_ids
    created = [e.data for e in ledger.read() if isinstance(e.data, ScheduleCreated | SensorCreated)]
    assert len(created) == 4


def test_sync_waits_for_the_projections_and_says_so_when_they_lag(ledger: SqlLedger) -> None:
    ctx = context_for(ledger)
    sync_definitions(ctx, project(), wait_seconds=None)  # appended, never folded
    with pytest.raises(StorageError) as caught:
        sync_definitions(ctx, project(), wait_seconds=0.2)
    assert caught.value.field == "watermark"
