"""The backfill fold: rows, idempotency (L2-INV-6/7), correlation, request dedup."""

from __future__ import annotations

import random

from arco.events import (
    BackfillChunkPlanned,
    BackfillCreated,
    BackfillState,
    BackfillStateChanged,
    KeysSelector,
    OrchestrationEvent,
    RangeSelector,
    StoredEvent,
)
from arco.fold.apply import apply_event
from arco.fold.rows import MemoryRows
from arco.partitions import DailyPartitionsDefinition
from support.factories import envelope

DAILY = DailyPartitionsDefinition(start_date="2024-01-01")
S = BackfillState


def created(backfill_id: str = "B1", **changes: object) -> BackfillCreated:
    fields: dict[str, object] = {
        "backfill_id": backfill_id,
        "asset_selection": ("raw",),
        "selector": RangeSelector(start="2024-01-01", end="2024-01-10"),
        "partitions_def": DAILY.to_dict(),
        "total_partitions": 10,
        "chunk_size": 4,
        "max_concurrent_runs": 2,
    }
    return BackfillCreated.model_validate({**fields, **changes})


def chunk(index: int, keys: tuple[str, ...], backfill_id: str = "B1") -> BackfillChunkPlanned:
    return BackfillChunkPlanned(
        backfill_id=backfill_id,
        chunk_index=index,
        partition_keys=keys,
        run_key=f"backfill:{backfill_id}:chunk:{index}",
    )


def changed(version: int, from_state: S, to_state: S, by: str = "op") -> BackfillStateChanged:
    return BackfillStateChanged(
        backfill_id="B1",
        from_state=from_state,
        to_state=to_state,
        state_version=version,
        changed_by=by,
    )


def fold(*events: OrchestrationEvent, rows: MemoryRows | None = None) -> MemoryRows:
    rows = rows or MemoryRows()
    start = len(rows.rows) + 1
    for offset, event in enumerate(events, start=start):
        apply_event(rows, StoredEvent.of(event, offset))
    return rows


def test_created_backfill_row_holds_selector_totals_and_version_zero() -> None:
    rows = fold(envelope(created()))
    doc = rows.table("backfills")["B1"]
    assert doc["state"] == "PENDING"
    assert doc["state_version"] == 0
    assert doc["selector"] == {"kind": "range", "start": "2024-01-01", "end": "2024-01-10"}
    assert (doc["total_partitions"], doc["total_chunks"], doc["chunks_planned"]) == (10, 3, 0)
    assert doc["partitions_def"] == DAILY.to_dict()


def test_a_planned_chunk_is_a_row_and_counts_once_on_the_backfill() -> None:
    rows = fold(envelope(created()), envelope(chunk(0, ("2024-01-01", "2024-01-02")), seconds=1))
    chunk_row = rows.table("backfill_chunks")["B1:000000000"]
    assert chunk_row["state"] == "planned"
    assert chunk_row["partition_count"] == 2
    doc = rows.table("backfills")["B1"]
    assert (doc["chunks_planned"], doc["partitions_planned"]) == (1, 2)
    assert (doc["next_chunk_index"], doc["last_planned_key"]) == (1, "2024-01-02")


def test_l2_inv_7_the_same_chunk_again_is_a_no_op() -> None:
    first = envelope(chunk(0, ("2024-01-01",)), seconds=1)
    again = envelope(chunk(0, ("2024-01-01",)), seconds=50)  # another event id, same chunk
    other_keys = envelope(chunk(0, ("2024-01-09",)), seconds=60)
    rows = fold(envelope(created()), first)
    before = dict(rows.rows)
    fold(again, other_keys, first, rows=rows)
    assert rows.rows == before
    assert rows.table("backfills")["B1"]["chunks_planned"] == 1


def test_the_run_request_fold_correlates_the_run_id_onto_the_chunk() -> None:
    from arco.events import BackfillSource, RunRequested
    from arco.ids import request_fingerprint

    request = RunRequested(
        run_key="backfill:B1:chunk:0",
        run_id="run_x",
        request_fingerprint=request_fingerprint(["raw"], None),
        asset_selection=("raw",),
        partition_selection=KeysSelector(keys=("2024-01-01",)),
        source=BackfillSource(backfill_id="B1", chunk_index=0),
    )
    rows = fold(envelope(created()), envelope(chunk(0, ("2024-01-01",))), envelope(request))
    assert rows.table("backfill_chunks")["B1:000000000"]["run_id"] == "run_x"


def test_state_changes_apply_in_version_order_and_record_the_last_transition() -> None:
    rows = fold(
        envelope(created()),
        envelope(changed(1, S.PENDING, S.RUNNING, "controller"), seconds=1),
        envelope(changed(2, S.RUNNING, S.PAUSED, "alice"), seconds=2),
    )
    doc = rows.table("backfills")["B1"]
    assert (doc["state"], doc["state_version"]) == ("PAUSED", 2)
    assert doc["last_transition"]["changed_by"] == "alice"  # type: ignore[index]
    assert doc["started_at"] is not None
    assert doc["completed_at"] is None


def test_l2_inv_6_a_change_with_a_wrong_state_version_is_rejected() -> None:
    rows = fold(envelope(created()), envelope(changed(1, S.PENDING, S.RUNNING), seconds=1))
    before = dict(rows.rows)
    stale = envelope(changed(1, S.RUNNING, S.PAUSED), seconds=5)  # version 1 is taken
    skipping = envelope(changed(3, S.RUNNING, S.PAUSED), seconds=6)  # version 2 is next
    wrong_from = envelope(changed(2, S.PAUSED, S.RUNNING), seconds=7)
    illegal = envelope(changed(2, S.RUNNING, S.PENDING), seconds=8)
    outcomes = [
        apply_event(rows, StoredEvent.of(e, 10 + i))
        for i, e in enumerate((stale, skipping, wrong_from, illegal))
    ]
    assert rows.rows == before
    assert [len(o.warnings) for o in outcomes] == [0, 1, 1, 1]  # the redelivery is silent


def test_terminal_states_are_final_in_the_fold() -> None:
    rows = fold(
        envelope(created()),
        envelope(changed(1, S.PENDING, S.CANCELLING), seconds=1),
        envelope(changed(2, S.CANCELLING, S.CANCELLED, "controller"), seconds=2),
        envelope(changed(3, S.CANCELLED, S.RUNNING), seconds=3),
    )
    doc = rows.table("backfills")["B1"]
    assert (doc["state"], doc["state_version"]) == ("CANCELLED", 2)
    assert doc["completed_at"] is not None


def test_a_second_backfill_for_the_same_client_request_is_dropped() -> None:
    rows = fold(
        envelope(created("B1", client_request_id="req")),
        envelope(created("B2", client_request_id="req"), seconds=1),
        envelope(created("B3", client_request_id="other"), seconds=2),
    )
    assert sorted(rows.table("backfills")) == ["B1", "B3"]
    assert rows.table("backfill_requests")["client:req"]["backfill_id"] == "B1"


def test_a_retry_backfill_is_linked_both_ways_and_idempotent_on_its_request() -> None:
    retry = {"parent_backfill_id": "B1", "retry_request_id": "r1"}
    keys = KeysSelector(keys=("2024-01-03",))
    rows = fold(
        envelope(created()),
        envelope(created("B2", selector=keys, total_partitions=1, **retry), seconds=1),
        envelope(created("B3", selector=keys, total_partitions=1, **retry), seconds=2),
    )
    assert rows.table("backfills")["B1"]["retry_backfill_ids"] == ["B2"]
    assert rows.table("backfills")["B2"]["parent_backfill_id"] == "B1"
    assert "B3" not in rows.table("backfills")


def test_events_for_unknown_backfills_warn_and_change_nothing() -> None:
    rows = MemoryRows()
    outcome = apply_event(rows, StoredEvent.of(envelope(chunk(0, ("2024-01-01",))), 1))
    assert outcome.warnings
    assert rows.rows == {}


def test_redelivering_and_shuffling_duplicates_gives_the_same_projection() -> None:
    events = [
        envelope(created()),
        envelope(chunk(0, ("2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04")), seconds=1),
        envelope(changed(1, S.PENDING, S.RUNNING, "controller"), seconds=1),
        envelope(chunk(1, ("2024-01-05", "2024-01-06", "2024-01-07", "2024-01-08")), seconds=2),
        envelope(changed(2, S.RUNNING, S.PAUSED), seconds=3),
    ]
    once = fold(*events)
    rng = random.Random(7)
    for _ in range(20):
        # Redeliver a random selection of earlier events after the originals.
        extra = [rng.choice(events) for _ in range(8)]
        assert fold(*events, *extra).digest() == once.digest()
