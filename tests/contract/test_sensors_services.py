"""Sensor services on every backend: definitions, errors, push, manual evaluation, history."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest

from arco.compactor import Compactor
from arco.errors import (
    ConflictError,
    IllegalTransitionError,
    NotFoundError,
    ValidationError,
    VersionConflictError,
)
from arco.events import PushMessage, SensorSpec
from arco.fold.tables import RUN_KEY_CONFLICTS
from arco.ids import run_id_from_run_key
from arco.ledger import SqlLedger
from arco.sdk.sensor_context import SensorEvaluationContext
from arco.sdk.sensors import RunRequest, SensorDefinition, SensorResult, push_sensor, sensor
from arco.services import sensors as service
from support.factories import SECRET, T0
from support.sensors import World


@pytest.fixture
def world(ledger: SqlLedger, compactor: Compactor) -> World:
    return World(ledger, compactor)


def message(message_id: str, payload: object = None, **attributes: str) -> PushMessage:
    data = None if payload is None else base64.b64encode(json.dumps(payload).encode()).decode()
    return PushMessage(
        message_id=message_id,
        data=data,
        attributes=attributes,
        publish_time="2024-01-01T00:00:00Z",
    )


class Calls:
    """Push sensor code that counts its calls and asks for one run per file."""

    def __init__(self) -> None:
        self.count = 0

    def definition(self) -> SensorDefinition:
        @push_sensor(name="files", asset_selection=["raw"])
        def files(context: SensorEvaluationContext) -> RunRequest | None:
            self.count += 1
            payload = context.message.json() if context.message.data else {}
            return RunRequest(partition_key=payload["day"]) if "day" in payload else None

        return files


def push_spec(name: str = "files") -> SensorSpec:
    return SensorSpec(name=name, kind="push", asset_selection=("raw",))


def poll_spec(name: str = "poller", interval: int = 30) -> SensorSpec:
    return SensorSpec(
        name=name, kind="poll", asset_selection=("raw",), minimum_interval_seconds=interval
    )


@sensor(name="poller", asset_selection=["raw"])
def counting(context: SensorEvaluationContext) -> SensorResult:
    start = int(context.cursor or 0)
    return SensorResult([RunRequest(f"n-{start}")], cursor=str(start + 1))


def test_create_get_and_list_sensors(world: World) -> None:
    poll_id = world.create(poll_spec())
    push_id = world.create(push_spec(), enabled=False)
    world.fold()
    got = service.get(world.ctx, poll_id)
    assert (got["name"], got["kind"], got["status"], got["state_version"]) == (
        "poller",
        "poll",
        "running",
        0,
    )
    assert got["cursor"] is None
    names = [d["name"] for d in service.list_sensors(world.ctx).items]
    assert names == ["files", "poller"]
    assert [d["sensor_id"] for d in service.list_sensors(world.ctx, kind="push").items] == [push_id]
    assert [d["name"] for d in service.list_sensors(world.ctx, enabled=True).items] == ["poller"]
    first = service.list_sensors(world.ctx, limit=1)
    assert first.next_cursor is not None
    second = service.list_sensors(world.ctx, cursor=first.next_cursor, limit=1)
    assert [d["name"] for d in first.items + second.items] == ["files", "poller"]
    assert second.next_cursor is None


def test_definition_errors_carry_the_field(world: World) -> None:
    sensor_id = world.create(poll_spec())
    world.fold()
    with pytest.raises(ConflictError) as taken:
        service.create(world.ctx, poll_spec())
    assert (taken.value.field, taken.value.value) == ("name", "poller")
    with pytest.raises(ValidationError) as kind:
        service.update(world.ctx, sensor_id, push_spec("poller"))
    assert (kind.value.field, kind.value.allowed) == ("kind", ["poll"])
    with pytest.raises(NotFoundError) as missing:
        service.get(world.ctx, "nope")
    assert (missing.value.field, missing.value.value) == ("sensor_id", "nope")
    with pytest.raises(ValidationError) as status:
        service.list_evals(world.ctx, sensor_id, status="great")
    assert status.value.field == "status"
    assert "skipped_stale_cursor" in list(status.value.allowed or [])
    with pytest.raises(NotFoundError):
        service.list_evals(world.ctx, "nope")
    with pytest.raises(ValidationError) as push_only:
        service.push_message(world.ctx, sensor_id, message("m"), Calls().definition())
    assert (push_only.value.field, push_only.value.allowed) == ("kind", ["push"])


def test_pause_resume_and_illegal_transitions(world: World) -> None:
    sensor_id = world.create(poll_spec())
    world.fold()
    with pytest.raises(IllegalTransitionError) as running:
        service.resume(world.ctx, sensor_id)
    assert running.value.value == "running"
    service.pause(world.ctx, sensor_id)
    world.fold()
    assert service.get(world.ctx, sensor_id)["status"] == "paused"
    with pytest.raises(IllegalTransitionError):
        service.pause(world.ctx, sensor_id)
    service.resume(world.ctx, sensor_id)
    world.fold()
    got = service.get(world.ctx, sensor_id)
    assert (got["status"], got["enabled"], got["definition_version"]) == ("running", True, 3)


def test_an_action_racing_a_lagging_projection_is_a_version_conflict(world: World) -> None:
    sensor_id = world.create(poll_spec())
    world.fold()
    first = service.pause(world.ctx, sensor_id)
    again = service.pause(world.ctx, sensor_id)  # not folded yet: the same action twice
    assert again.duplicate
    assert again.event_id == first.event_id
    with pytest.raises(VersionConflictError) as raced:
        service.update(world.ctx, sensor_id, poll_spec("renamed"))  # took version 2 as well
    assert raced.value.field == "definition_version"
    with pytest.raises(VersionConflictError):
        service.update(world.ctx, sensor_id, poll_spec(), expected_definition_version=7)


def test_reset_cursor_rules(world: World) -> None:
    poll_id = world.create(poll_spec())
    push_id = world.create(push_spec())
    world.fold()
    with pytest.raises(ValidationError) as push:
        service.reset_cursor(world.ctx, push_id, "x")
    assert (push.value.field, push.value.allowed) == ("kind", ["poll"])
    with pytest.raises(VersionConflictError) as stale:
        service.reset_cursor(world.ctx, poll_id, "x", expected_state_version=4)
    assert stale.value.details["current_state_version"] == 0
    service.reset_cursor(world.ctx, poll_id, "x", expected_state_version=0)
    world.fold()
    got = service.get(world.ctx, poll_id)
    assert (got["cursor"], got["state_version"], got["last_reset_by"]) == ("x", 1, "ann")


def test_l2_inv_2_a_redelivered_push_message_creates_nothing_new(world: World) -> None:
    calls = Calls()
    sensor_id = world.create(push_spec())
    world.fold()
    first = service.push_message(
        world.ctx, sensor_id, message("m-1", {"day": "2024-01-01"}), calls.definition()
    )
    assert (first.status, first.appended, first.duplicate) == ("ok", True, False)
    (request,) = first.run_requests
    assert request.run_key == f"sensor:{sensor_id}:msg:m-1"
    # Redelivered before the compactor ran: the code runs again (and this time asks for
    # another partition); the ledger drops the evaluation, the fold ignores the rest.
    racing = service.push_message(
        world.ctx, sensor_id, message("m-1", {"day": "2024-01-02"}), calls.definition()
    )
    assert racing.duplicate
    assert racing.run_requests == first.run_requests  # the recorded evaluation, not this one
    world.fold()
    # Redelivered after folding: answered from history without running the code.
    count, head = calls.count, world.ledger.head()
    later = service.push_message(
        world.ctx, sensor_id, message("m-1", {"day": "2024-01-03"}), calls.definition()
    )
    assert later.duplicate
    assert (calls.count, world.ledger.head()) == (count, head)
    world.fold()
    assert world.reader.count(RUN_KEY_CONFLICTS, world.ctx.scope) == 0
    runs = world.runs()
    assert list(runs) == [request.run_key]
    assert runs[request.run_key]["run_id"] == run_id_from_run_key(
        "acme", "prod", request.run_key, SECRET
    )
    assert len(world.evals(sensor_id)) == 1


def test_a_paused_push_sensor_records_skipped_messages_not_replayed_on_resume(
    world: World,
) -> None:
    calls = Calls()
    sensor_id = world.create(push_spec(), enabled=False)
    world.fold()
    report = service.push_message(
        world.ctx, sensor_id, message("m-1", {"day": "2024-01-01"}), calls.definition()
    )
    assert (report.status, report.skip_reason) == ("skipped", "sensor is paused")
    assert calls.count == 0
    service.resume(world.ctx, sensor_id)
    world.fold()
    again = service.push_message(
        world.ctx, sensor_id, message("m-1", {"day": "2024-01-01"}), calls.definition()
    )
    assert again.duplicate
    world.fold()
    assert world.runs() == {}
    (row,) = world.evals(sensor_id)
    assert (row["status"], row["skip_reason"]) == ("skipped", "sensor is paused")


def test_push_errors_are_recorded_evaluations(world: World) -> None:
    @push_sensor(name="files", asset_selection=["raw"])
    def broken(context: SensorEvaluationContext) -> None:
        raise KeyError("day")

    sensor_id = world.create(push_spec())
    world.fold()
    raised = service.push_message(world.ctx, sensor_id, message("m-1", {}), broken)
    assert (raised.status, raised.error) == ("error", "KeyError: 'day'")
    garbled = PushMessage(message_id="m-2", data="not base64!")
    undecodable = service.push_message(world.ctx, sensor_id, garbled, broken)
    assert undecodable.status == "error"
    assert "base64" in (undecodable.error or "")
    world.fold()
    assert world.runs() == {}
    assert [row["status"] for row in world.evals(sensor_id)] == ["error", "error"]


def test_manual_dry_run_appends_nothing_and_shows_the_requests(world: World) -> None:
    poll_id = world.create(poll_spec())
    push_id = world.create(push_spec())
    world.fold()
    head = world.ledger.head()
    polled = service.evaluate_sensor(world.ctx, poll_id, counting, cursor="41")
    assert [r.run_key for r in polled.run_requests] == ["n-41"]
    assert (polled.cursor_before, polled.cursor_after, polled.appended) == ("41", "42", False)
    sample = message("sample-1", {"day": "2024-02-02"})
    pushed = service.evaluate_sensor(
        world.ctx, push_id, Calls().definition(), sample_payload=sample
    )
    (request,) = pushed.run_requests
    assert request.partition_selection is not None
    assert request.partition_selection.model_dump(mode="json") == {
        "kind": "keys",
        "keys": ["2024-02-02"],
    }
    assert world.ledger.head() == head
    with pytest.raises(ValidationError) as needs_sample:
        service.evaluate_sensor(world.ctx, push_id, Calls().definition())
    assert needs_sample.value.field == "sample_payload"
    with pytest.raises(ValidationError) as other_cursor:
        service.evaluate_sensor(world.ctx, poll_id, counting, cursor="41", dry_run=False)
    assert other_cursor.value.field == "cursor"


def test_manual_evaluation_when_asked_is_recorded_like_a_daemon_one(world: World) -> None:
    poll_id = world.create(poll_spec())
    world.fold()
    report = service.evaluate_sensor(world.ctx, poll_id, counting, dry_run=False)
    assert report.appended
    world.fold()
    assert (world.state(poll_id)["cursor"], world.state(poll_id)["state_version"]) == ("1", 1)
    assert list(world.runs()) == ["n-0"]
    service.pause(world.ctx, poll_id)
    world.fold()
    with pytest.raises(IllegalTransitionError):
        service.evaluate_sensor(world.ctx, poll_id, counting, dry_run=False)
    assert service.evaluate_sensor(world.ctx, poll_id, counting).run_requests  # dry run is fine


def test_list_evals_filters_and_pages_newest_first(world: World) -> None:
    calls = Calls()
    sensor_id = world.create(push_spec())
    world.fold()
    for index in range(5):
        world.advance(60)
        payload = {"day": f"2024-01-0{index + 1}"} if index % 2 == 0 else {}
        service.push_message(
            world.ctx, sensor_id, message(f"m-{index}", payload), calls.definition()
        )
    world.fold()
    everything = service.list_evals(world.ctx, sensor_id)
    assert [row["message_id"] for row in everything.items] == [f"m-{i}" for i in (4, 3, 2, 1, 0)]
    skipped = service.list_evals(world.ctx, sensor_id, status="skipped")
    assert [row["message_id"] for row in skipped.items] == ["m-3", "m-1"]
    window = service.list_evals(
        world.ctx,
        sensor_id,
        since=T0 + timedelta(minutes=2),
        until=T0 + timedelta(minutes=4),
    )
    assert [row["message_id"] for row in window.items] == ["m-3", "m-2", "m-1"]
    pages, cursor = [], None
    while True:
        page = service.list_evals(world.ctx, sensor_id, cursor=cursor, limit=2)
        pages.append([row["message_id"] for row in page.items])
        cursor = page.next_cursor
        if cursor is None:
            break
    assert pages == [["m-4", "m-3"], ["m-2", "m-1"], ["m-0"]]
    with pytest.raises(ValidationError) as backwards:
        service.list_evals(world.ctx, sensor_id, since=T0 + timedelta(hours=1), until=T0)
    assert backwards.value.field == "since"
