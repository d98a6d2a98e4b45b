"""The sensor SDK: decorators, return shapes, cursors, push messages (no database)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from arco.errors import InvalidDefinitionError, ValidationError
from arco.events import KeysSelector, PushMessage, RangeSelector
from arco.sdk.sensor_context import SensorEvaluationContext, SensorMessage, build_sensor_context
from arco.sdk.sensors import (
    DefaultSensorStatus,
    RunRequest,
    SensorDefinition,
    SensorResult,
    SkipReason,
    push_sensor,
    sensor,
)

NOW = datetime(2024, 5, 1, 12, tzinfo=UTC)


def ctx(cursor: str | None = None) -> SensorEvaluationContext:
    return build_sensor_context(cursor=cursor, now=NOW)


def test_sensor_decorator_with_arguments_builds_a_poll_definition() -> None:
    @sensor(name="new_files", asset_selection=["raw"], minimum_interval_seconds=5)
    def watch(context: SensorEvaluationContext) -> None:
        return None

    assert isinstance(watch, SensorDefinition)
    assert watch.name == "new_files"
    assert watch.kind == "poll"
    assert watch.asset_selection == ("raw",)
    assert watch.minimum_interval_seconds == 5
    assert watch.default_status is DefaultSensorStatus.STOPPED
    spec = watch.to_spec()
    assert spec.kind == "poll"
    assert spec.name == "new_files"
    assert spec.minimum_interval_seconds == 5
    assert spec.asset_selection == ("raw",)


def test_bare_decorator_names_the_sensor_after_the_function() -> None:
    @sensor
    def my_sensor() -> None:
        return None

    assert my_sensor.name == "my_sensor"
    assert my_sensor.minimum_interval_seconds == 30
    assert my_sensor.evaluate(ctx()).run_requests == ()


def test_push_sensor_decorator_builds_a_push_definition() -> None:
    @push_sensor(asset_selection=["events"], timeout_seconds=2)
    def on_message(context: SensorEvaluationContext) -> RunRequest:
        return RunRequest()

    assert on_message.kind == "push"
    assert on_message.to_spec().kind == "push"
    assert on_message.to_spec().timeout_seconds == 2


@pytest.mark.parametrize(
    ("field", "kwargs"),
    [
        ("minimum_interval_seconds", {"minimum_interval_seconds": 0}),
        ("minimum_interval_seconds", {"minimum_interval_seconds": 2**62}),
        ("timeout_seconds", {"timeout_seconds": 0}),
        ("timeout_seconds", {"timeout_seconds": 1e300}),
        ("name", {"name": " "}),
        ("default_status", {"default_status": "SLEEPING"}),
    ],
)
def test_invalid_definitions_are_rejected_with_the_field(
    field: str, kwargs: dict[str, object]
) -> None:
    with pytest.raises(InvalidDefinitionError) as raised:
        sensor(**kwargs)(lambda: None)  # type: ignore[call-overload]
    assert raised.value.field == field


def test_a_function_with_two_required_parameters_is_rejected() -> None:
    def two(context: object, other: object) -> None:
        return None

    with pytest.raises(InvalidDefinitionError) as raised:
        sensor(two)
    assert raised.value.field == "fn"


def test_returning_a_single_run_request() -> None:
    @sensor
    def one(context: SensorEvaluationContext) -> RunRequest:
        return RunRequest("k1", asset_selection=["raw"], partition_key="2024-01-01")

    result = one.evaluate(ctx("c0"))
    (request,) = result.run_requests
    assert request.run_key == "k1"
    assert request.partition_selection() == KeysSelector(keys=("2024-01-01",))
    assert result.cursor == "c0"  # untouched cursor stays


def test_yielding_run_requests_and_updating_the_cursor() -> None:
    @sensor
    def gen(context: SensorEvaluationContext) -> Iterator[RunRequest]:
        start = int(context.cursor or 0)
        for n in range(start, start + 3):
            yield RunRequest(f"file-{n}")
        context.update_cursor(str(start + 3))

    result = gen.evaluate(ctx("4"))
    assert [r.run_key for r in result.run_requests] == ["file-4", "file-5", "file-6"]
    assert result.cursor == "7"


def test_returning_a_list_and_a_sensor_result() -> None:
    @sensor
    def listed() -> list[RunRequest]:
        return [RunRequest("a"), RunRequest("b")]

    @sensor
    def full() -> SensorResult:
        return SensorResult(run_requests=[RunRequest("c")], cursor="next")

    assert [r.run_key for r in listed.evaluate(ctx()).run_requests] == ["a", "b"]
    result = full.evaluate(ctx("prev"))
    assert [r.run_key for r in result.run_requests] == ["c"]
    assert result.cursor == "next"


def test_skip_reason_returned_or_in_a_result() -> None:
    @sensor
    def skip() -> SkipReason:
        return SkipReason("nothing new")

    @sensor
    def skip_in_result() -> SensorResult:
        return SensorResult(skip_reason="quiet")

    assert skip.evaluate(ctx()).skip_reason == "nothing new"
    assert skip_in_result.evaluate(ctx()).skip_reason == "quiet"
    assert skip.evaluate(ctx()).run_requests == ()


def test_setting_the_cursor_twice_is_an_error() -> None:
    @sensor
    def both(context: SensorEvaluationContext) -> SensorResult:
        context.update_cursor("a")
        return SensorResult(cursor="b")

    with pytest.raises(ValidationError) as raised:
        both.evaluate(ctx())
    assert raised.value.field == "cursor"


@pytest.mark.parametrize(
    "value", [42, "text", [RunRequest("a"), "x"], [SkipReason(), RunRequest("a")]]
)
def test_unsupported_return_values_are_validation_errors(value: object) -> None:
    @sensor
    def odd() -> object:
        return value

    with pytest.raises(ValidationError):
        odd.evaluate(ctx())


def test_run_request_rejects_two_partition_forms() -> None:
    with pytest.raises(ValidationError) as raised:
        RunRequest(partition_key="a", partition_keys=["b"])
    assert raised.value.field == "partition_key"


def test_run_request_partition_forms() -> None:
    assert RunRequest(partition_keys=["a", "b"]).partition_selection() == KeysSelector(
        keys=("a", "b")
    )
    assert RunRequest(partition_range=("a", "z")).partition_selection() == RangeSelector(
        start="a", end="z"
    )
    assert RunRequest().partition_selection() is None


def test_push_message_is_decoded_for_the_sensor() -> None:
    raw = PushMessage(
        message_id="m-1",
        data=base64.b64encode(json.dumps({"file": "x.csv"}).encode()).decode(),
        attributes={"bucket": "b"},
        publish_time="2024-05-01T11:59:59.123456789Z",
    )
    message = SensorMessage.from_push(raw)
    assert message.message_id == "m-1"
    assert message.json() == {"file": "x.csv"}
    assert message.text == '{"file": "x.csv"}'
    assert message.attributes == {"bucket": "b"}
    assert message.publish_time == datetime(2024, 5, 1, 11, 59, 59, 123456, tzinfo=UTC)


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (PushMessage(message_id="m", data="%%%"), "message.data"),
        (PushMessage(message_id="m", publish_time="yesterday"), "message.publish_time"),
    ],
)
def test_undecodable_push_messages_are_validation_errors(raw: PushMessage, field: str) -> None:
    with pytest.raises(ValidationError) as raised:
        SensorMessage.from_push(raw)
    assert raised.value.field == field


def test_push_sensor_reads_the_message_and_cannot_keep_a_cursor() -> None:
    @push_sensor
    def on_file(context: SensorEvaluationContext) -> RunRequest:
        return RunRequest(partition_key=context.message.json()["day"])

    @push_sensor
    def with_cursor(context: SensorEvaluationContext) -> SensorResult:
        return SensorResult(cursor="x")

    message = SensorMessage("m-1", json.dumps({"day": "2024-05-01"}).encode(), {}, None)
    context = build_sensor_context(now=NOW, message=message)
    (request,) = on_file.evaluate(context).run_requests
    assert request.partition_key == "2024-05-01"
    with pytest.raises(ValidationError) as raised:
        with_cursor.evaluate(build_sensor_context(now=NOW, message=message))
    assert raised.value.field == "cursor"


def test_poll_context_has_no_message() -> None:
    with pytest.raises(ValidationError) as raised:
        _ = ctx().message
    assert raised.value.field == "message"


def test_calling_the_definition_runs_the_raw_function() -> None:
    @sensor
    def raw(context: SensorEvaluationContext) -> SkipReason:
        return SkipReason(context.cursor)

    assert raw(ctx("c")) == SkipReason("c")


def test_importing_the_sdk_needs_no_database_driver() -> None:
    import subprocess
    import sys

    code = (
        "import sys; import arco.sdk.sensors; "
        "bad = [m for m in ('sqlalchemy', 'psycopg', 'sqlite3') if m in sys.modules]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
