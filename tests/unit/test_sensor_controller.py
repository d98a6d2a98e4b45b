"""The pure sensor controller: which sensors are due, evaluation outcome → one batch."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError as PydanticValidationError

from arco.controllers.sensors import (
    Outcome,
    Request,
    SensorView,
    decide_poll,
    decide_push,
    due_sensors,
    next_due,
    sensor_view,
)
from arco.events import (
    KeysSelector,
    RunRequested,
    SensorEvaluated,
    SensorSource,
    SensorSpec,
)
from arco.ids import request_fingerprint, run_id_from_run_key

NOW = datetime(2024, 5, 1, 12, tzinfo=UTC)
SECRET = "s3cret"


def view(
    sensor_id: str = "S1",
    *,
    kind: str = "poll",
    enabled: bool = True,
    last: datetime | None = None,
    interval: int = 30,
    cursor: str | None = "c0",
    version: int = 3,
    assets: tuple[str, ...] = ("raw",),
) -> SensorView:
    spec = SensorSpec(
        name=f"n-{sensor_id}",
        kind=kind,
        asset_selection=assets,
        minimum_interval_seconds=interval,
    )
    return SensorView(
        tenant_id="acme",
        workspace_id="prod",
        sensor_id=sensor_id,
        spec=spec,
        enabled=enabled,
        definition_version=1,
        cursor=cursor,
        state_version=version,
        last_evaluated_at=last,
    )


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_due_poll_sensors_respect_the_minimum_interval_and_pause() -> None:
    sensors = [
        view("never"),
        view("recent", last=NOW - timedelta(seconds=29)),
        view("exactly", last=NOW - timedelta(seconds=30)),
        view("paused", enabled=False),
        view("push", kind="push"),
    ]
    assert [s.sensor_id for s in due_sensors(sensors, NOW)] == ["never", "exactly"]


def test_next_due_is_the_earliest_future_evaluation() -> None:
    sensors = [
        view("a", last=NOW - timedelta(seconds=10), interval=30),  # due at +20s
        view("b", last=NOW - timedelta(seconds=50), interval=60),  # due at +10s
        view("paused", enabled=False, last=NOW),
    ]
    assert next_due(sensors, NOW) == NOW + timedelta(seconds=10)
    assert next_due([view("c")], NOW) == NOW
    assert next_due([view("paused", enabled=False)], NOW) is None


def test_sensor_view_reads_projection_docs() -> None:
    definition = {
        "sensor_id": "S1",
        "name": "files",
        "kind": "poll",
        "asset_selection": ["raw"],
        "minimum_interval_seconds": 45,
        "timeout_seconds": 5.0,
        "tags": {},
        "description": None,
        "enabled": True,
        "definition_version": 4,
    }
    state = {"cursor": "c9", "state_version": 7, "last_evaluated_at": "2024-05-01T11:59:00.000000Z"}
    got = sensor_view("acme", "prod", definition, state)
    assert got.spec.minimum_interval_seconds == 45
    assert (got.cursor, got.state_version, got.definition_version) == ("c9", 7, 4)
    assert got.last_evaluated_at == NOW - timedelta(minutes=1)
    assert sensor_view("acme", "prod", definition, None).state_version == 0


def test_poll_decision_is_one_batch_evaluation_then_its_run_requests() -> None:
    outcome = Outcome(
        requests=(
            Request(run_key="file-1", partition_selection=KeysSelector(keys=("p1",))),
            Request(run_key="file-2", asset_selection=("other",), tags={"team": "x"}),
        ),
        cursor_after="c1",
    )
    batch = decide_poll(view(), NOW, outcome, SECRET)
    evaluation, *requests = (event.data for event in batch)
    assert isinstance(evaluation, SensorEvaluated)
    assert evaluation.kind == "poll"
    assert evaluation.status == "ok"
    assert evaluation.expected_state_version == 3
    assert (evaluation.cursor_before, evaluation.cursor_after) == ("c0", "c1")
    assert evaluation.poll_epoch == int(NOW.timestamp())
    assert batch[0].idempotency_key == f"sensor_eval:S1:poll:{int(NOW.timestamp())}:{sha('c0')}"
    assert evaluation.run_keys == ("file-1", "file-2")
    assert all(isinstance(r, RunRequested) for r in requests)
    first, second = requests
    assert isinstance(first, RunRequested)
    assert isinstance(second, RunRequested)
    assert first.run_id == run_id_from_run_key("acme", "prod", "file-1", SECRET)
    assert first.asset_selection == ("raw",)  # the sensor's default selection
    assert first.request_fingerprint == request_fingerprint(
        ["raw"], {"kind": "keys", "keys": ["p1"]}, {}
    )
    assert second.asset_selection == ("other",)
    assert second.tags == {"team": "x"}
    assert first.source == SensorSource(sensor_id="S1", eval_id=evaluation.eval_id)
    assert {e.causation_id for e in batch[1:]} == {batch[0].event_id}
    assert [r.run_requested(first.source) for r in evaluation.run_requests] == requests


def test_unnamed_poll_requests_get_keys_unique_to_the_evaluation() -> None:
    batch = decide_poll(view(), NOW, Outcome(requests=(Request(), Request())), SECRET)
    keys = [e.data.run_key for e in batch[1:]]  # type: ignore[union-attr]
    epoch = int(NOW.timestamp())
    assert keys == [
        f"sensor:S1:poll:{epoch}:{sha('c0')}:0",
        f"sensor:S1:poll:{epoch}:{sha('c0')}:1",
    ]


def test_push_decision_uses_the_message_key_and_run_key() -> None:
    batch = decide_push(view(kind="push"), NOW, "m-7", Outcome(requests=(Request(),)), SECRET)
    evaluation, request = (event.data for event in batch)
    assert isinstance(evaluation, SensorEvaluated)
    assert isinstance(request, RunRequested)
    assert batch[0].idempotency_key == "sensor_eval:S1:msg:m-7"
    assert evaluation.message_id == "m-7"
    assert evaluation.expected_state_version is None
    assert evaluation.cursor_before is None
    assert evaluation.cursor_after is None
    assert request.run_key == "sensor:S1:msg:m-7"
    assert request.source == SensorSource(sensor_id="S1", eval_id="S1:msg:m-7")


def test_push_with_a_sensor_provided_run_key_keeps_it() -> None:
    batch = decide_push(
        view(kind="push"), NOW, "m-7", Outcome(requests=(Request(run_key="mine"),)), SECRET
    )
    assert batch[1].data.run_key == "mine"  # type: ignore[union-attr]


@pytest.mark.parametrize("kind", ["poll", "push"])
def test_an_error_keeps_the_cursor_and_requests_nothing(kind: str) -> None:
    sensor = view(kind=kind)
    outcome = Outcome.failed("ZeroDivisionError: division by zero")
    batch = (
        decide_poll(sensor, NOW, outcome, SECRET)
        if kind == "poll"
        else decide_push(sensor, NOW, "m", outcome, SECRET)
    )
    assert len(batch) == 1
    evaluation = batch[0].data
    assert isinstance(evaluation, SensorEvaluated)
    assert evaluation.status == "error"
    assert evaluation.error == "ZeroDivisionError: division by zero"
    assert evaluation.cursor_after == evaluation.cursor_before
    assert evaluation.run_keys == ()


def test_nothing_requested_is_a_skipped_evaluation_that_still_moves_the_cursor() -> None:
    batch = decide_poll(view(), NOW, Outcome(cursor_after="c5", skip_reason="quiet"), SECRET)
    evaluation = batch[0].data
    assert isinstance(evaluation, SensorEvaluated)
    assert (evaluation.status, evaluation.skip_reason, evaluation.cursor_after) == (
        "skipped",
        "quiet",
        "c5",
    )


def test_a_request_without_assets_on_a_sensor_without_assets_is_an_error() -> None:
    batch = decide_poll(view(assets=()), NOW, Outcome(requests=(Request("k"),)), SECRET)
    evaluation = batch[0].data
    assert isinstance(evaluation, SensorEvaluated)
    assert evaluation.status == "error"
    assert "asset" in (evaluation.error or "")
    assert evaluation.cursor_after == "c0"
    assert len(batch) == 1


def test_the_same_request_twice_in_one_evaluation_is_requested_once() -> None:
    batch = decide_poll(view(), NOW, Outcome(requests=(Request("k"), Request("k"))), SECRET)
    assert [e.data.type for e in batch] == ["SensorEvaluated", "RunRequested"]


def test_the_decision_is_a_pure_function_of_its_inputs() -> None:
    outcome = Outcome(requests=(Request("k"),), cursor_after="c1")
    assert decide_poll(view(), NOW, outcome, SECRET) == decide_poll(view(), NOW, outcome, SECRET)


def test_a_sensor_due_beyond_the_calendar_is_never_due_and_stops_no_other() -> None:
    # Stored before intervals were bounded: its next evaluation is past year 9999.
    huge = view("huge", last=NOW)
    huge = SensorView(
        **{
            **huge.__dict__,
            "spec": huge.spec.model_copy(update={"minimum_interval_seconds": 2**62}),
        }
    )
    sensors = [huge, view("never")]
    assert [s.sensor_id for s in due_sensors(sensors, NOW)] == ["never"]
    assert next_due([huge], NOW) == datetime.max.replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("field", "value"),
    [("minimum_interval_seconds", 366 * 86_400 + 1), ("timeout_seconds", 86_400.5)],
)
def test_sensor_intervals_and_timeouts_are_bounded(field: str, value: float) -> None:
    with pytest.raises(PydanticValidationError) as raised:
        SensorSpec(name="s", kind="poll", **{field: value})  # type: ignore[arg-type]
    assert raised.value.errors()[0]["loc"] == (field,)
