"""The event model (DESIGN §2): derived envelope fields, key formulas, round trips."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arco.events import (
    PAYLOAD_TYPES,
    BackfillChunkPlanned,
    BackfillCreated,
    BackfillState,
    BackfillStateChanged,
    KeysSelector,
    OrchestrationEvent,
    Payload,
    RangeSelector,
    ScheduleTicked,
    SensorEvaluated,
    TaskFinished,
    UnknownEvent,
    stored_event_from_json,
)
from support.factories import T0, run_requested


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_new_derives_type_version_key_source_and_correlation() -> None:
    data = run_requested("sched:S:1700000000")
    event = OrchestrationEvent.new("acme", "prod", data, now=T0)
    assert event.event_type == "RunRequested"
    assert event.event_version == 1
    assert event.source == "arco/acme/prod"
    assert event.idempotency_key == f"runreq:sched:S:1700000000:{sha(data.request_fingerprint)}"
    assert event.correlation_id == data.run_id
    assert event.timestamp == T0
    assert len(event.event_id) == 26


@pytest.mark.parametrize(
    ("payload", "key"),
    [
        (
            ScheduleTicked(
                schedule_id="S",
                tick_id="S:1700000000",
                scheduled_epoch=1700000000,
                status="triggered",
            ),
            "sched_tick:S:1700000000",
        ),
        (
            SensorEvaluated(sensor_id="N", kind="push", message_id="m-1"),
            "sensor_eval:N:msg:m-1",
        ),
        (
            SensorEvaluated(sensor_id="N", kind="poll", poll_epoch=1700000000, cursor_before="c7"),
            f"sensor_eval:N:poll:1700000000:{sha('c7')}",
        ),
        (
            BackfillChunkPlanned(
                backfill_id="B", chunk_index=3, partition_keys=("a",), run_key="backfill:B:chunk:3"
            ),
            "backfill_chunk:B:3",
        ),
        (
            BackfillStateChanged(
                backfill_id="B",
                from_state=BackfillState.RUNNING,
                to_state=BackfillState.PAUSED,
                state_version=4,
            ),
            "backfill_state:B:4",
        ),
    ],
)
def test_idempotency_key_formulas_match_the_design(payload: Payload, key: str) -> None:
    assert OrchestrationEvent.new("t", "w", payload, now=T0).idempotency_key == key


def test_retry_backfill_key_is_parent_and_retry_request() -> None:
    created = BackfillCreated(
        backfill_id="B2",
        asset_selection=("raw",),
        selector=KeysSelector(keys=("2024-01-01",)),
        partitions_def={"kind": "static", "keys": ["2024-01-01"]},
        total_partitions=1,
        chunk_size=1,
        max_concurrent_runs=1,
        parent_backfill_id="B1",
        retry_request_id="r-9",
    )
    assert created.idempotency_key() == "backfill_retry:B1:r-9"


def test_backfill_created_carries_a_selector_not_a_key_list() -> None:
    fields = BackfillCreated.model_fields
    assert "partition_keys" not in fields
    created = BackfillCreated(
        backfill_id="B",
        asset_selection=("raw",),
        selector=RangeSelector(start="2000-01-01", end="2999-12-31"),
        partitions_def={"kind": "daily"},
        total_partitions=365_000,
        chunk_size=100,
        max_concurrent_runs=4,
    )
    assert len(created.model_dump_json()) < 600


def test_unknown_event_type_is_preserved_not_rejected() -> None:
    body = OrchestrationEvent.new("t", "w", run_requested("k"), now=T0).model_dump(mode="json")
    body["event_type"] = "SomethingFromTheFuture"
    body["data"] = {"type": "SomethingFromTheFuture", "answer": 42}
    stored = stored_event_from_json(7, json.dumps(body))
    assert isinstance(stored.data, UnknownEvent)
    assert stored.data.raw == {"type": "SomethingFromTheFuture", "answer": 42}
    assert not stored.known
    assert stored.offset == 7


def test_every_payload_type_declares_a_version_and_a_literal_type() -> None:
    for name, cls in PAYLOAD_TYPES.items():
        assert cls.VERSION >= 1
        assert cls.model_fields["type"].default == name


text = st.text(max_size=30)
keys = st.lists(st.text(min_size=1, max_size=12), max_size=5).map(tuple)
ticks = st.builds(
    ScheduleTicked,
    schedule_id=text,
    tick_id=text,
    scheduled_epoch=st.integers(0, 2**40),
    status=st.sampled_from(["triggered", "skipped", "failed"]),
    reason=st.none() | text,
    run_key=st.none() | text,
)
evaluations = st.builds(
    SensorEvaluated,
    sensor_id=text,
    kind=st.sampled_from(["poll", "push"]),
    message_id=st.none() | text,
    poll_epoch=st.none() | st.integers(0, 2**40),
    cursor_before=st.none() | text,
    cursor_after=st.none() | text,
    expected_state_version=st.none() | st.integers(0, 1000),
    run_keys=keys,
)
finished = st.builds(
    TaskFinished,
    run_id=text,
    task_key=text,
    attempt=st.integers(1, 9),
    attempt_id=text,
    outcome=st.sampled_from(["succeeded", "failed", "cancelled"]),
    asset_key=text,
    partition_key=st.none() | text,
    metadata=st.dictionaries(text, st.none() | st.integers() | st.booleans() | text, max_size=3),
)
run_requests = st.builds(run_requested, st.text(min_size=1, max_size=30))
payloads = ticks | evaluations | finished | run_requests


@given(
    payload=payloads,
    at=st.datetimes(
        min_value=datetime(1990, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
    ),
)
def test_json_round_trip_is_lossless(payload: Payload, at: datetime) -> None:
    event = OrchestrationEvent.new("acme", "prod", payload, now=at, causation_id="c")
    stored = stored_event_from_json(1, event.to_json())
    assert stored.data == payload
    assert stored.event_id == event.event_id
    assert stored.timestamp == event.timestamp
    assert stored.idempotency_key == event.idempotency_key
    assert stored.causation_id == "c"
    assert OrchestrationEvent.model_validate_json(event.to_json()) == event


def test_event_ids_differ_for_different_decisions_at_the_same_instant() -> None:
    one = OrchestrationEvent.new("t", "w", run_requested("a"), now=T0)
    two = OrchestrationEvent.new("t", "w", run_requested("b"), now=T0)
    later = OrchestrationEvent.new("t", "w", run_requested("a"), now=T0 + timedelta(seconds=1))
    assert len({one.event_id, two.event_id, later.event_id}) == 3
