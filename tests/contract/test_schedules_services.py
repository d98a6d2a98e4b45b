"""Schedule service functions on every backend: what the API and the CLI call."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import pytest
from sqlalchemy import Engine

from arco.clock import ManualClock
from arco.compactor import Compactor
from arco.errors import (
    ArcoError,
    ConflictError,
    InvalidCronError,
    InvalidDefinitionError,
    InvalidTimezoneError,
    NotFoundError,
    ValidationError,
    VersionConflictError,
)
from arco.events import OrchestrationEvent
from arco.events.schedules import ScheduledPartitions
from arco.fold.rows import Scope
from arco.ids import run_id_from_run_key
from arco.ledger import AppendOutcome, SqlLedger
from arco.partitions import DailyPartitionsDefinition
from arco.secrets import TenantSecrets
from arco.services import ServiceContext
from arco.services.schedules import (
    create_schedule,
    get_schedule,
    list_schedules,
    list_ticks,
    pause_schedule,
    resume_schedule,
    trigger_schedule,
    update_schedule,
)
from arco.storage.reader import ProjectionReader
from support.factories import SECRET, TENANT, WORKSPACE
from support.schedules import at, spec


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(at("2024-01-01T00:00:00Z"))


@pytest.fixture
def ctx(ledger: SqlLedger, engine: Engine, clock: ManualClock) -> ServiceContext:
    return ServiceContext(
        scope=Scope(TENANT, WORKSPACE),
        ledger=ledger,
        reader=ProjectionReader(engine),
        secrets=TenantSecrets({TENANT: SECRET}),
        clock=clock,
        actor="ann",
    )


def test_create_then_get_and_list(ctx: ServiceContext, compactor: Compactor) -> None:
    accepted = create_schedule(ctx, spec(name="hourly"))
    assert accepted.resource_id is not None
    assert len(accepted.resource_id) == 26  # a ULID
    assert not accepted.duplicate
    compactor.catch_up()
    schedule = get_schedule(ctx, accepted.resource_id)
    assert (schedule["name"], schedule["definition_version"], schedule["enabled"]) == (
        "hourly",
        1,
        True,
    )
    assert schedule["changed_by"] == "ann"
    assert schedule["next_tick_at"] == "2024-01-01T01:00:00.000000Z"
    page = list_schedules(ctx)
    assert [s["schedule_id"] for s in page.items] == [accepted.resource_id]


def test_reads_see_definition_events_the_compactor_has_not_folded(ctx: ServiceContext) -> None:
    sid = create_schedule(ctx, spec()).resource_id
    assert sid is not None
    update_schedule(ctx, sid, spec(name="renamed"))
    schedule = get_schedule(ctx, sid)
    assert (schedule["name"], schedule["definition_version"]) == ("renamed", 2)


@pytest.mark.parametrize(
    ("bad", "error", "field"),
    [
        ({"cron": "61 * * * *"}, InvalidCronError, "cron"),
        ({"cron": "* * *"}, InvalidCronError, "cron"),
        ({"timezone": "Mars/Olympus"}, InvalidTimezoneError, "timezone"),
        ({"asset_selection": ()}, ValidationError, "asset_selection"),
        ({"name": " "}, ValidationError, "name"),
        (
            {"partitions": ScheduledPartitions(partitions_def={"type": "time_window"})},
            InvalidDefinitionError,
            "partitions.partitions_def.cron_schedule",
        ),
    ],
)
def test_create_and_update_reject_invalid_definitions_naming_the_field(
    ctx: ServiceContext,
    ledger: SqlLedger,
    bad: dict[str, object],
    error: type[ArcoError],
    field: str,
) -> None:
    with pytest.raises(error) as caught:
        create_schedule(ctx, spec(**bad))
    assert caught.value.field == field
    assert caught.value.allowed
    assert ledger.head() == 0
    sid = create_schedule(ctx, spec()).resource_id
    assert sid is not None
    with pytest.raises(error):
        update_schedule(ctx, sid, spec(**bad))
    assert ledger.head() == 1


def test_invalid_cron_error_lists_the_valid_forms(ctx: ServiceContext) -> None:
    with pytest.raises(InvalidCronError) as caught:
        create_schedule(ctx, spec(cron="every day"))
    body = caught.value.to_dict()
    assert body["code"] == "invalid_cron"
    assert "5 fields" in str(body["allowed"])
    assert "every day" in str(body["message"])


def test_unknown_schedule_is_not_found(ctx: ServiceContext) -> None:
    for call in (
        lambda: update_schedule(ctx, "NOPE", spec()),
        lambda: pause_schedule(ctx, "NOPE"),
        lambda: resume_schedule(ctx, "NOPE"),
        lambda: trigger_schedule(ctx, "NOPE"),
        lambda: get_schedule(ctx, "NOPE"),
        lambda: list_ticks(ctx, "NOPE"),
    ):
        with pytest.raises(NotFoundError) as caught:
            call()
        assert caught.value.value == "NOPE"


def test_a_stale_expected_version_is_a_conflict_carrying_the_current_version(
    ctx: ServiceContext,
) -> None:
    sid = create_schedule(ctx, spec()).resource_id
    assert sid is not None
    update_schedule(ctx, sid, spec(name="two"), expected_version=1)
    with pytest.raises(VersionConflictError) as caught:
        update_schedule(ctx, sid, spec(name="stale"), expected_version=1)
    assert caught.value.details["current_version"] == 2
    assert caught.value.details["expected_version"] == 1
    with pytest.raises(VersionConflictError):
        pause_schedule(ctx, sid, expected_version=1)
    assert get_schedule(ctx, sid)["name"] == "two"


def test_reusing_a_schedule_id_with_another_spec_is_a_conflict(ctx: ServiceContext) -> None:
    first = create_schedule(ctx, spec(), schedule_id="01HZZZZZZZZZZZZZZZZZZZZZZZ")
    again = create_schedule(ctx, spec(), schedule_id="01HZZZZZZZZZZZZZZZZZZZZZZZ")
    assert again.duplicate
    assert (again.event_id, again.offset) == (first.event_id, first.offset)
    with pytest.raises(ConflictError):
        create_schedule(ctx, spec(name="other"), schedule_id="01HZZZZZZZZZZZZZZZZZZZZZZZ")


def test_pause_and_resume_are_versioned_and_idempotent(
    ctx: ServiceContext, clock: ManualClock, compactor: Compactor
) -> None:
    sid = create_schedule(ctx, spec()).resource_id
    assert sid is not None
    clock.advance(timedelta(minutes=5))
    paused = pause_schedule(ctx, sid)
    again = pause_schedule(ctx, sid)
    assert again.duplicate
    assert again.event_id == paused.event_id
    compactor.catch_up()
    schedule = get_schedule(ctx, sid)
    assert (schedule["enabled"], schedule["definition_version"]) == (False, 2)
    assert schedule["paused_at"] == "2024-01-01T00:05:00.000000Z"
    assert schedule["next_tick_at"] is None
    resumed = resume_schedule(ctx, sid, expected_version=2)
    assert not resumed.duplicate
    assert get_schedule(ctx, sid)["enabled"] is True
    assert list_schedules(ctx, enabled=True).items == []  # lists read the projection only
    compactor.catch_up()
    assert list_schedules(ctx, enabled=True).items[0]["schedule_id"] == sid


def test_renaming_keeps_the_id(ctx: ServiceContext, compactor: Compactor) -> None:
    sid = create_schedule(ctx, spec(name="a")).resource_id
    assert sid is not None
    update_schedule(ctx, sid, spec(name="b"))
    compactor.catch_up()
    assert [s["name"] for s in list_schedules(ctx).items] == ["b"]
    assert list_schedules(ctx).items[0]["schedule_id"] == sid


def test_manual_trigger_records_a_tick_and_its_run(
    ctx: ServiceContext, clock: ManualClock, compactor: Compactor
) -> None:
    daily = ScheduledPartitions(
        partitions_def=dict(DailyPartitionsDefinition(start_date="2023-12-01").to_dict())
    )
    sid = create_schedule(ctx, spec(partitions=daily)).resource_id
    assert sid is not None
    clock.advance(timedelta(hours=5, seconds=30))
    accepted = trigger_schedule(ctx, sid)
    epoch = int(clock.now().timestamp())
    assert accepted.resource_id == f"{sid}:manual:{epoch}"
    assert trigger_schedule(ctx, sid).duplicate  # the same second: the same tick
    compactor.catch_up()
    (tick,) = list_ticks(ctx, sid).items
    run_key = f"sched:{sid}:manual:{epoch}"
    assert (tick["status"], tick["manual"], tick["run_key"]) == ("triggered", True, run_key)
    assert tick["run_id"] == run_id_from_run_key(TENANT, WORKSPACE, run_key, SECRET)
    assert tick["snapshot"]["partition_selection"] == {"kind": "keys", "keys": ["2023-12-31"]}  # type: ignore[index]


def test_list_ticks_filters_and_pages_newest_first(
    ctx: ServiceContext, clock: ManualClock, compactor: Compactor
) -> None:
    sid = create_schedule(ctx, spec(cron="* * * * *")).resource_id
    assert sid is not None
    for _ in range(7):
        clock.advance(timedelta(minutes=1, seconds=1))
        trigger_schedule(ctx, sid)
    compactor.catch_up()
    first = list_ticks(ctx, sid, limit=3)
    assert len(first.items) == 3
    assert first.next_cursor is not None
    rest = list_ticks(ctx, sid, limit=10, cursor=first.next_cursor)
    epochs = [t["scheduled_epoch"] for t in first.items + rest.items]
    assert len(epochs) == 7
    assert epochs == sorted(epochs, reverse=True)  # type: ignore[type-var]
    assert rest.next_cursor is None
    window = list_ticks(
        ctx, sid, since=at("2024-01-01T00:02:00Z"), until=at("2024-01-01T00:04:30Z")
    )
    assert [t["scheduled_at"] for t in window.items] == [
        "2024-01-01T00:04:04.000000Z",
        "2024-01-01T00:03:03.000000Z",
        "2024-01-01T00:02:02.000000Z",
    ]
    assert list_ticks(ctx, sid, status="failed").items == []
    assert len(list_ticks(ctx, None, status="triggered", limit=100).items) == 7


def test_list_ticks_rejects_an_unknown_status_and_an_inverted_range(ctx: ServiceContext) -> None:
    sid = create_schedule(ctx, spec()).resource_id
    with pytest.raises(ValidationError) as caught:
        list_ticks(ctx, sid, status="exploded")
    assert caught.value.field == "status"
    assert list(caught.value.allowed or []) == ["triggered", "skipped", "failed"]
    with pytest.raises(ValidationError) as inverted:
        list_ticks(ctx, sid, since=at("2024-02-01T00:00Z"), until=at("2024-01-01T00:00Z"))
    assert inverted.value.field == "since"


class RacingContext(ServiceContext):
    """A context whose first append finds that another writer just took the same version."""

    rival: ServiceContext | None = None

    def append(self, batch: Sequence[OrchestrationEvent]) -> list[AppendOutcome]:
        rival, self.rival = self.rival, None
        if rival is not None:
            update_schedule(rival, str(batch[0].data.schedule_id), spec(name="rival"))  # type: ignore[union-attr]
        return super().append(batch)


def racing(ctx: ServiceContext) -> RacingContext:
    fields = {f: getattr(ctx, f) for f in ("scope", "ledger", "reader", "secrets", "clock")}
    racer = RacingContext(**fields, actor="bob")
    racer.rival = ctx
    return racer


def test_losing_a_version_race_is_a_conflict_only_when_a_version_was_expected(
    ctx: ServiceContext,
) -> None:
    sid = create_schedule(ctx, spec()).resource_id
    assert sid is not None
    with pytest.raises(VersionConflictError) as caught:
        update_schedule(racing(ctx), sid, spec(name="mine"), expected_version=1)
    assert caught.value.details["current_version"] == 2
    assert get_schedule(ctx, sid)["name"] == "rival"
    accepted = update_schedule(racing(ctx), sid, spec(name="mine"))  # no version named: retried
    assert not accepted.duplicate
    schedule = get_schedule(ctx, sid)
    assert (schedule["name"], schedule["definition_version"], schedule["changed_by"]) == (
        "mine",
        4,
        "bob",
    )
