"""Partition status reads on every backend: pages, filters, stale lists, summaries.

The SQL status expression (counts, filtered pages) and the Python rules (per-partition
detail) must always agree; a seeded random population checks that on each backend.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from arco.clock import ManualClock
from arco.compactor import Compactor
from arco.errors import InvalidPartitionKeyError, ValidationError
from arco.fold.context import iso
from arco.fold.partitions import status_pk
from arco.fold.rows import Doc, Row
from arco.fold.tables import PARTITION_STATUS
from arco.ledger import SqlLedger
from arco.partitions import DailyPartitionsDefinition, HourlyPartitionsDefinition
from arco.partitions.status import (
    AssetInfo,
    DisplayStatus,
    PartitionRecord,
    StaleReason,
    Upstream,
    partition_status,
)
from arco.services import ServiceContext
from arco.services import partitions as service
from arco.storage.database import write_transaction
from arco.storage.projections import BatchRows
from support.backfills import SCOPE, run_events, service_context
from support.factories import envelope, run_requested

NOW = datetime(2024, 12, 1, 12, tzinfo=UTC)
DAILY = DailyPartitionsDefinition(start_date="2024-01-01")
CLEAN = AssetInfo(
    "clean",
    DAILY,
    (Upstream("raw"), Upstream("ref", "all")),
    code_version="v2",
    maximum_lag=timedelta(hours=6),
)


@pytest.fixture
def ctx(ledger: SqlLedger) -> ServiceContext:
    return service_context(ledger, ManualClock(NOW))


def status_doc(asset: str, key: str, **fields: object) -> Doc:
    doc: Doc = {
        "asset_key": asset,
        "partition_key": key,
        "in_progress": False,
        "active_attempt_ids": [],
        "last_attempt_outcome": None,
        "last_attempt_at": None,
        "last_attempt_run_id": None,
        "last_materialization_run_id": None,
        "last_materialization_at": None,
        "last_materialization_code_version": None,
    }
    doc.update(fields)
    return doc


def put_rows(engine: Engine, docs: list[Doc]) -> None:
    """Rows as the execution fold writes them, inserted directly (fast for big populations)."""
    with write_transaction(engine) as connection:
        rows = BatchRows(connection, assume_empty=True)
        for doc in docs:
            pk = status_pk(str(doc["asset_key"]), str(doc["partition_key"]))
            rows.put(PARTITION_STATUS.name, SCOPE, pk, Row.of(doc, "01J00000000000000000000000"))
        rows.flush()


def random_population(seed: int) -> list[Doc]:
    rng = random.Random(seed)
    docs: list[Doc] = []
    for key in DAILY.iter_keys(0, NOW):
        if rng.random() < 0.25:
            continue  # no row: never materialized
        fields: dict[str, object] = {"in_progress": rng.random() < 0.1}
        if rng.random() < 0.85:
            fields["last_materialization_at"] = iso(NOW - timedelta(minutes=rng.randint(1, 900)))
            fields["last_materialization_code_version"] = rng.choice(["v2", "v2", "v1", None])
        fields["last_attempt_outcome"] = rng.choice(
            ["succeeded", "succeeded", "failed", "cancelled"]
        )
        docs.append(status_doc("clean", key, **fields))
        if rng.random() < 0.5:
            at = iso(NOW - timedelta(minutes=rng.randint(1, 900)))
            docs.append(status_doc("raw", key, last_materialization_at=at))
    docs.append(
        status_doc("ref", "__all__", last_materialization_at=iso(NOW - timedelta(minutes=450)))
    )
    return docs


def expected_statuses(docs: list[Doc]) -> list[tuple[str, DisplayStatus, tuple[StaleReason, ...]]]:
    """Every key of CLEAN with its status, computed in Python only."""
    mine = {str(d["partition_key"]): d for d in docs if d["asset_key"] == "clean"}
    raw = {str(d["partition_key"]): d for d in docs if d["asset_key"] == "raw"}
    ref = datetime.fromisoformat(
        str(next(d for d in docs if d["asset_key"] == "ref")["last_materialization_at"])
    )
    found = []
    for key in DAILY.iter_keys(0, NOW):
        record = PartitionRecord.from_doc(mine[key]) if key in mine else None
        upstream = [ref]
        if key in raw:
            upstream.append(datetime.fromisoformat(str(raw[key]["last_materialization_at"])))
        status = partition_status(CLEAN, key, record, upstream, NOW)
        found.append((key, status.status, status.stale_reasons))
    return found


def walk(page_of: object) -> list[object]:
    items: list[object] = []
    cursor = None
    while True:
        page = page_of(cursor)  # type: ignore[operator]
        items += page.items
        cursor = page.next_cursor
        if cursor is None:
            return items


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sql_and_python_agree_on_every_status_and_count(
    ctx: ServiceContext, engine: Engine, seed: int
) -> None:
    docs = random_population(seed)
    put_rows(engine, docs)
    expected = expected_statuses(docs)
    summary = service.asset_summary(ctx, CLEAN)
    assert summary.total == len(expected) == 335
    assert dict(summary.counts) == {
        s: sum(1 for _, x, _ in expected if x == s) for s in DisplayStatus
    }
    for reason in StaleReason:
        assert summary.stale_by_reason[reason] == sum(1 for *_, r in expected if reason in r), (
            reason
        )
    everything = walk(lambda c: service.list_partitions(ctx, CLEAN, cursor=c, limit=40))
    assert [(p.partition_key, p.status, p.stale_reasons) for p in everything] == expected  # type: ignore[attr-defined]
    for status in DisplayStatus:
        listed = walk(
            lambda c, s=status: service.list_partitions(ctx, CLEAN, status=s, cursor=c, limit=25)
        )
        assert [p.partition_key for p in listed] == sorted(k for k, s, _ in expected if s == status)  # type: ignore[attr-defined]
        assert {p.status for p in listed} <= {status}  # type: ignore[attr-defined]
    stale = walk(lambda c: service.list_stale_partitions(ctx, CLEAN, cursor=c, limit=30))
    wanted = sorted(k for k, _, r in expected if r and StaleReason.NEVER_MATERIALIZED not in r)
    assert [p.partition_key for p in stale] == wanted  # type: ignore[attr-defined]


def test_staleness_follows_the_fold_and_the_clock(ledger: SqlLedger, compactor: Compactor) -> None:
    clock = ManualClock(NOW)
    ctx = service_context(ledger, clock)
    key = "2024-06-01"
    asset = AssetInfo(
        "clean", DAILY, (Upstream("raw"),), code_version="v1", maximum_lag=timedelta(hours=1)
    )
    for run_key, assets in (("r1", ("raw",)), ("c1", ("clean",))):
        request = run_requested(run_key, assets=assets)
        at = clock.advance(timedelta(minutes=1))
        events = [request, *run_events(request.run_id, [key], assets=assets)]
        ledger.append([envelope(e, at=at) for e in events])
    compactor.catch_up()
    assert service.get_partition(ctx, asset, key).status == DisplayStatus.MATERIALIZED
    # raw materializes again, later: clean is stale because its upstream changed.
    request = run_requested("r2", assets=("raw",))
    at = clock.advance(timedelta(minutes=1))
    ledger.append([envelope(e, at=at) for e in [request, *run_events(request.run_id, [key])]])
    compactor.catch_up()
    found = service.get_partition(ctx, asset, key)
    assert (found.status, found.stale_reasons) == (
        DisplayStatus.STALE,
        (StaleReason.UPSTREAM_CHANGED,),
    )
    assert found.stale_since == at
    clock.advance(timedelta(hours=2))
    assert service.get_partition(ctx, asset, key).stale_reasons == (
        StaleReason.FRESHNESS_POLICY,
        StaleReason.UPSTREAM_CHANGED,
    )
    # A failed attempt keeps the materialization and says so.
    request = run_requested("c2", assets=("clean",))
    at = clock.advance(timedelta(minutes=1))
    ledger.append(
        [
            envelope(e, at=at)
            for e in [request, *run_events(request.run_id, [key], {key}, assets=("clean",))]
        ]
    )
    compactor.catch_up()
    failed = service.get_partition(ctx, asset, key)
    assert failed.status == DisplayStatus.MATERIALIZED_LAST_ATTEMPT_FAILED
    assert failed.record.last_materialization_run_id == run_requested("c1").run_id


def test_never_materialized_pages_scan_a_bounded_number_of_keys(
    ctx: ServiceContext, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    put_rows(
        engine,
        [
            status_doc("clean", k, last_materialization_at=iso(NOW))
            for k in DAILY.iter_keys(0, NOW)
            if k < "2024-11-01"
        ],
    )
    monkeypatch.setattr(service, "SCAN_BUDGET", 100)
    monkeypatch.setattr(service, "_SCAN_BATCH", 50)
    asset = AssetInfo("clean", DAILY)
    first = service.list_partitions(ctx, asset, status="NEVER_MATERIALIZED", limit=10)
    assert first.items == []  # 100 keys scanned, all materialized: come back for more
    assert first.next_cursor is not None
    listed = walk(
        lambda c: service.list_partitions(
            ctx, asset, status="NEVER_MATERIALIZED", cursor=c, limit=10
        )
    )
    assert [p.partition_key for p in listed] == [f"2024-11-{d:02d}" for d in range(1, 31)]  # type: ignore[attr-defined]


def test_bad_keys_statuses_cursors_and_unpartitioned_assets(
    ctx: ServiceContext, engine: Engine
) -> None:
    with pytest.raises(InvalidPartitionKeyError):
        service.get_partition(ctx, CLEAN, "2030-01-01")
    with pytest.raises(ValidationError) as status:
        service.list_partitions(ctx, CLEAN, status="GREEN")
    assert "STALE" in list(status.value.allowed or [])
    page = service.list_partitions(ctx, CLEAN, limit=2)
    with pytest.raises(ValidationError) as cursor:
        service.list_partitions(ctx, CLEAN, status="STALE", cursor=page.next_cursor)
    assert cursor.value.field == "cursor"
    report = AssetInfo("report")
    put_rows(engine, [status_doc("report", "__all__", last_materialization_at=iso(NOW))])
    assert service.get_partition(ctx, report, "__all__").status == DisplayStatus.MATERIALIZED
    assert service.asset_summary(ctx, report).counts[DisplayStatus.MATERIALIZED] == 1
    with pytest.raises(InvalidPartitionKeyError):
        service.get_partition(ctx, report, "2024-01-01")


def test_the_summary_of_a_hundred_thousand_partitions_counts_correctly(
    ctx: ServiceContext, engine: Engine
) -> None:
    end = datetime(2010, 1, 1, tzinfo=UTC) + timedelta(hours=100_000)
    hourly = HourlyPartitionsDefinition(start_date="2010-01-01-00:00", end_date=end)
    keys = list(hourly.iter_keys(0, NOW))
    assert len(keys) == 100_000
    asset = AssetInfo(
        "events", hourly, (Upstream("source"),), code_version="v2", maximum_lag=timedelta(days=1)
    )
    fresh, old = iso(NOW - timedelta(hours=1)), iso(NOW - timedelta(days=2))
    docs: list[Doc] = []
    for i, key in enumerate(keys[:90_000]):
        kind = i % 10
        fields: dict[str, object] = {
            "last_materialization_at": fresh,
            "last_materialization_code_version": "v2",
            "last_attempt_outcome": "succeeded",
        }
        if kind == 0:
            fields["in_progress"] = True
        elif kind == 1:
            fields["last_attempt_outcome"] = "failed"
        elif kind == 2:
            fields["last_materialization_at"] = old
        elif kind == 3:
            fields["last_materialization_code_version"] = "v1"
        elif kind == 4:
            fields = {"last_attempt_outcome": "failed"}
        elif kind == 5:
            docs.append(status_doc("source", key, last_materialization_at=iso(NOW)))
        docs.append(status_doc("events", key, **fields))
    put_rows(engine, docs)
    summary = service.asset_summary(ctx, asset)
    assert summary.total == 100_000
    assert summary.counts == {
        DisplayStatus.IN_PROGRESS: 9_000,
        DisplayStatus.MATERIALIZED_LAST_ATTEMPT_FAILED: 9_000,
        DisplayStatus.STALE: 27_000,
        DisplayStatus.NEVER_MATERIALIZED: 9_000 + 10_000,
        DisplayStatus.MATERIALIZED: 36_000,
    }
    assert summary.stale_by_reason == {
        StaleReason.FRESHNESS_POLICY: 9_000,
        StaleReason.CODE_CHANGED: 9_000,
        StaleReason.UPSTREAM_CHANGED: 9_000,
        StaleReason.NEVER_MATERIALIZED: 19_000,
    }
    assert summary.last_attempt_failed == 18_000
    assert (
        Counter(p.status for p in service.list_partitions(ctx, asset, limit=20).items)[
            DisplayStatus.IN_PROGRESS
        ]
        == 2
    )
