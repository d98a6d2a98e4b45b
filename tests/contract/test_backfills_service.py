"""Backfill services and the runner pass on every backend."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from arco.clock import ManualClock
from arco.compactor import Compactor
from arco.errors import (
    IllegalTransitionError,
    InvalidPartitionRangeError,
    NotFoundError,
    ValidationError,
    VersionConflictError,
)
from arco.events import RangeSelector
from arco.fold.rows import Row
from arco.fold.tables import BACKFILLS
from arco.ledger import SqlLedger
from arco.partitions import DailyPartitionsDefinition, StaticPartitionsDefinition
from arco.runtime.backfill_pass import run_backfill_pass
from arco.runtime.env import RuntimeEnv
from arco.secrets import TenantSecrets
from arco.services import ServiceContext
from arco.services import backfills as service
from arco.storage.database import write_transaction
from arco.storage.projections import BatchRows
from support.backfills import SCOPE, run_events, service_context
from support.factories import SECRET, TENANT, envelope

NOW = datetime(2024, 6, 1, tzinfo=UTC)
DAILY = DailyPartitionsDefinition(start_date="2024-01-01")
ASSETS = {
    "raw": DAILY,
    "clean": DAILY,
    "report": None,
    "regions": StaticPartitionsDefinition(["eu", "us"]),
}
JANUARY = RangeSelector(start="2024-01-01", end="2024-01-31")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOW)


@pytest.fixture
def ctx(ledger: SqlLedger, clock: ManualClock) -> ServiceContext:
    return service_context(ledger, clock)


@pytest.fixture
def env(ctx: ServiceContext) -> RuntimeEnv:
    return RuntimeEnv(ctx.ledger, ctx.reader, TenantSecrets({TENANT: SECRET}), ctx.clock)


def _create(ctx: ServiceContext, **changes: object) -> str:
    fields: dict[str, object] = {
        "asset_selection": ["raw"],
        "selector": JANUARY,
        "chunk_size": 10,
        "max_concurrent_runs": 2,
    }
    accepted = service.create(ctx, ASSETS, **{**fields, **changes})  # type: ignore[arg-type]
    assert accepted.resource_id is not None
    return accepted.resource_id


def test_preview_writes_nothing(ctx: ServiceContext, ledger: SqlLedger) -> None:
    found = service.preview(ctx, ASSETS, ["raw", "clean"], JANUARY, 7)
    assert (found.partition_count, found.chunk_count) == (31, 5)
    assert found.first_chunk_keys[-1] == "2024-01-07"
    assert ledger.head() == 0


def test_create_then_get_shows_counters_and_is_idempotent_on_client_request_id(
    ctx: ServiceContext, compactor: Compactor
) -> None:
    backfill_id = _create(ctx, client_request_id="req-1")
    compactor.catch_up()
    doc = service.get(ctx, backfill_id)
    assert (doc["state"], doc["display_state"], doc["state_version"]) == ("PENDING", "PENDING", 0)
    assert doc["counters"]["chunks"] == {  # type: ignore[index]
        "total": 4,
        "planned": 0,
        "not_planned": 4,
        "active": 0,
        "succeeded": 0,
        "failed": 0,
        "cancelled": 0,
    }
    again = service.create(
        ctx,
        ASSETS,
        asset_selection=["raw"],
        selector=JANUARY,
        chunk_size=10,
        client_request_id="req-1",
    )
    assert (again.resource_id, again.duplicate) == (backfill_id, True)
    assert again.event_id == doc["created_event_id"]


@pytest.mark.parametrize(
    ("changes", "error", "field"),
    [
        ({"asset_selection": ["nope"]}, ValidationError, "asset_selection"),
        ({"asset_selection": ["report"]}, ValidationError, "asset_selection"),
        ({"asset_selection": ["raw", "regions"]}, ValidationError, "asset_selection"),
        ({"asset_selection": []}, ValidationError, "asset_selection"),
        ({"chunk_size": 0}, ValidationError, "chunk_size"),
        (
            {"selector": RangeSelector(start="2024-01-01", end="2030-01-01")},
            InvalidPartitionRangeError,
            "end",
        ),
    ],
)
def test_bad_requests_name_the_offending_field(
    ctx: ServiceContext, changes: dict[str, object], error: type[Exception], field: str
) -> None:
    with pytest.raises(error) as raised:
        _create(ctx, **changes)
    assert raised.value.field == field  # type: ignore[attr-defined]
    assert ctx.ledger.head() == 0


def test_unknown_asset_lists_the_known_ones(ctx: ServiceContext) -> None:
    with pytest.raises(ValidationError) as raised:
        _create(ctx, asset_selection=["nope"])
    assert raised.value.allowed == ["clean", "raw", "regions", "report"]


def test_the_runner_plans_chunks_and_the_read_side_counts_them(
    ctx: ServiceContext, env: RuntimeEnv, compactor: Compactor
) -> None:
    backfill_id = _create(ctx)
    compactor.catch_up()
    report = run_backfill_pass(env, NOW)
    assert (report.decisions, report.appended, report.errors) == (2, 5, 0)
    compactor.catch_up()
    doc = service.get(ctx, backfill_id)
    assert (doc["state"], doc["state_version"]) == ("RUNNING", 1)
    assert doc["counters"]["chunks"]["active"] == 2  # type: ignore[index]
    assert doc["counters"]["partitions"]["planned"] == 20  # type: ignore[index]
    # A second pass on the same projections decides nothing new.
    assert run_backfill_pass(env, NOW).decisions == 0
    chunks = service.list_chunks(ctx, backfill_id)
    assert [c["chunk_index"] for c in chunks.items] == [0, 1]
    assert {c["display_state"] for c in chunks.items} == {"planned"}


def test_a_broken_backfill_does_not_stop_the_others(
    ctx: ServiceContext, env: RuntimeEnv, compactor: Compactor, engine: Engine
) -> None:
    broken, healthy = _create(ctx), _create(ctx)
    compactor.catch_up()
    doc = ctx.reader.get(BACKFILLS, SCOPE, broken)
    assert doc is not None
    with write_transaction(engine) as connection:
        rows = BatchRows(connection)
        rows.put(
            BACKFILLS.name,
            SCOPE,
            broken,
            Row.of({**doc, "partitions_def": {"type": "bogus"}}, str(doc["created_event_id"])),
        )
        rows.flush()
    report = run_backfill_pass(env, NOW)
    assert report.errors == 1
    compactor.catch_up()
    assert service.get(ctx, healthy)["state"] == "RUNNING"


def test_pause_resume_cancel_check_versions_and_legality(
    ctx: ServiceContext, env: RuntimeEnv, compactor: Compactor
) -> None:
    backfill_id = _create(ctx)
    compactor.catch_up()
    run_backfill_pass(env, NOW)
    compactor.catch_up()
    with pytest.raises(VersionConflictError) as stale:
        service.pause(ctx, backfill_id, expected_state_version=0)
    assert stale.value.status == 409
    assert stale.value.details["current_state_version"] == 1
    with pytest.raises(IllegalTransitionError) as illegal:
        service.resume(ctx, backfill_id, expected_state_version=1)
    assert illegal.value.details["current_state"] == "RUNNING"
    paused = service.pause(ctx, backfill_id, expected_state_version=1, reason="maintenance")
    assert not paused.duplicate
    # The same pause again before the fold ran: the ledger already holds version 2.
    assert service.pause(ctx, backfill_id, expected_state_version=1).duplicate
    with pytest.raises(VersionConflictError):
        service.cancel(ctx, backfill_id, expected_state_version=1)
    compactor.catch_up()
    # ...and after it: the change is done, not a conflict.
    assert service.pause(ctx, backfill_id, expected_state_version=1).duplicate
    doc = service.get(ctx, backfill_id)
    assert (doc["state"], doc["state_version"]) == ("PAUSED", 2)
    assert doc["last_transition"]["changed_by"] == "alice"  # type: ignore[index]
    service.cancel(ctx, backfill_id, expected_state_version=2)
    compactor.catch_up()
    run_backfill_pass(env, NOW)  # cancels the two queued runs
    compactor.catch_up()
    run_backfill_pass(env, NOW)
    compactor.catch_up()
    assert service.get(ctx, backfill_id)["state"] == "CANCELLED"


def test_unknown_backfills_are_not_found(ctx: ServiceContext) -> None:
    with pytest.raises(NotFoundError) as raised:
        service.get(ctx, "nope")
    assert raised.value.field == "backfill_id"
    with pytest.raises(NotFoundError):
        service.pause(ctx, "nope", expected_state_version=0)


def test_list_filters_by_state_and_time_and_pages(
    ctx: ServiceContext, clock: ManualClock, env: RuntimeEnv, compactor: Compactor
) -> None:
    ids = []
    for _ in range(5):
        ids.append(_create(ctx))
        clock.advance(timedelta(hours=1))
    compactor.catch_up()
    service.pause(ctx, ids[0], expected_state_version=0)
    compactor.catch_up()
    first = service.list_backfills(ctx, limit=2)
    assert [d["backfill_id"] for d in first.items] == [ids[4], ids[3]]
    rest = service.list_backfills(ctx, cursor=first.next_cursor, limit=10)
    assert [d["backfill_id"] for d in rest.items] == [ids[2], ids[1], ids[0]]
    assert rest.next_cursor is None
    assert [d["backfill_id"] for d in service.list_backfills(ctx, state="PAUSED").items] == [ids[0]]
    window = service.list_backfills(
        ctx, since=NOW + timedelta(minutes=30), until=NOW + timedelta(hours=2, minutes=30)
    )
    assert [d["backfill_id"] for d in window.items] == [ids[2], ids[1]]
    assert all("counters" in d for d in window.items)
    with pytest.raises(ValidationError) as bad:
        service.list_backfills(ctx, state="DONE")
    assert bad.value.field == "state"


def test_retry_failed_is_idempotent_on_its_request_id(
    ctx: ServiceContext, env: RuntimeEnv, compactor: Compactor
) -> None:
    backfill_id = _create(ctx, chunk_size=31, max_concurrent_runs=1)
    compactor.catch_up()
    run_backfill_pass(env, NOW)
    compactor.catch_up()
    chunk = service.list_chunks(ctx, backfill_id).items[0]
    keys = [str(k) for k in chunk["partition_keys"]]  # type: ignore[attr-defined]
    ctx.append(
        [
            envelope(e, at=NOW)
            for e in run_events(str(chunk["run_id"]), keys, failing={keys[3], keys[9]})
        ]
    )
    compactor.catch_up()
    run_backfill_pass(env, NOW)
    compactor.catch_up()
    assert service.get(ctx, backfill_id)["state"] == "FAILED"
    first = service.retry_failed(ctx, backfill_id, "retry-1")
    before_fold = service.retry_failed(ctx, backfill_id, "retry-1")
    compactor.catch_up()
    after_fold = service.retry_failed(ctx, backfill_id, "retry-1")
    assert first.resource_id == before_fold.resource_id == after_fold.resource_id
    assert (before_fold.duplicate, after_fold.duplicate) == (True, True)
    child = service.get(ctx, str(first.resource_id))
    assert child["selector"] == {"kind": "keys", "keys": [keys[3], keys[9]]}
    assert child["parent_backfill_id"] == backfill_id
    assert service.get(ctx, backfill_id)["retry_backfill_ids"] == [first.resource_id]
