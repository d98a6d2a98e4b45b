"""Sensor services: define, pause/resume, reset the cursor, read history, push, evaluate.

Every operator action takes the sensor's next ``definition_version`` (read from
the projection).  If the projection lags and another action already took that
version, the append is a duplicate of a *different* action and the call fails
with VersionConflictError (409) so the caller retries on fresh state; the same
action sent twice answers the first one (``duplicate=True``).

Push and manual evaluation run user code, so the caller hands in the sensor's
code (the SDK object, e.g. ``Definitions.sensors_by_name[name]``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from enum import Enum

from arco.controllers.sensors import SensorView, sensor_view
from arco.errors import (
    ConflictError,
    IllegalTransitionError,
    NotFoundError,
    ValidationError,
    VersionConflictError,
)
from arco.events import (
    OrchestrationEvent,
    PushMessage,
    SensorCreated,
    SensorCursorReset,
    SensorPaused,
    SensorResumed,
    SensorSpec,
    SensorUpdated,
    sensor_eval_id,
)
from arco.fold.context import iso
from arco.fold.rows import Doc
from arco.fold.runs import STALE_EVAL_STATUS
from arco.fold.tables import SENSOR_DEFINITIONS, SENSOR_EVALS, SENSOR_STATE
from arco.ids import new_ulid
from arco.runtime.env import RuntimeEnv
from arco.runtime.sensor_pass import (
    EvaluationReport,
    SensorExecutor,
    evaluate_once,
    handle_push,
    recorded_evaluation,
)
from arco.sdk.sensors import SensorDefinition
from arco.services import Accepted, ServiceContext, validated
from arco.storage.reader import MAX_PAGE, Page, Query

EVAL_STATUSES = ("ok", "skipped", "error", STALE_EVAL_STATUS)
SENSOR_KINDS = ("poll", "push")
SPEC_FIELDS: set[str] = set(SensorSpec.model_fields)


class StoredCursor(Enum):
    CURRENT = "current"


CURRENT = StoredCursor.CURRENT
"""``evaluate_sensor(cursor=CURRENT)``: evaluate from the sensor's stored cursor."""


# --- definitions -----------------------------------------------------------------


def create(
    ctx: ServiceContext, spec: SensorSpec, *, enabled: bool = True, sensor_id: str | None = None
) -> Accepted:
    """Define a sensor (names are unique in a workspace; the id never changes)."""
    _check_name_free(ctx, spec.name, sensor_id=None)
    sensor_id = sensor_id or new_ulid()
    if ctx.reader.get(SENSOR_DEFINITIONS, ctx.scope, sensor_id) is not None:
        raise ConflictError(
            f"sensor {sensor_id!r} already exists", field="sensor_id", value=sensor_id
        )
    data = SensorCreated(sensor_id=sensor_id, definition_version=1, spec=spec, enabled=enabled)
    return _accept_action(ctx, ctx.event(data), sensor_id)


def update(
    ctx: ServiceContext,
    sensor_id: str,
    spec: SensorSpec,
    *,
    expected_definition_version: int | None = None,
) -> Accepted:
    """Replace a sensor's spec; its kind cannot change (cursor and history mean other things)."""
    sensor = _view(ctx, sensor_id)
    _check_version(sensor, expected_definition_version)
    if spec.kind != sensor.kind:
        raise ValidationError(
            f"sensor {sensor_id!r} is a {sensor.kind} sensor; create a new one to change its kind",
            field="kind",
            value=spec.kind,
            allowed=[sensor.kind],
        )
    _check_name_free(ctx, spec.name, sensor_id=sensor_id)
    data = SensorUpdated(sensor_id=sensor_id, definition_version=_next(sensor), spec=spec)
    return _accept_action(ctx, ctx.event(data), sensor_id)


def patch(
    ctx: ServiceContext,
    sensor_id: str,
    changes: Mapping[str, object],
    *,
    expected_definition_version: int | None = None,
) -> Accepted:
    """Change the spec fields in ``changes``, merged onto the sensor as read now.

    Without an explicit version the change is checked against the version just read: a
    change landing in between is a VersionConflictError, not silently overwritten.
    """
    current = get(ctx, sensor_id)
    spec = validated(
        SensorSpec, {**{k: v for k, v in current.items() if k in SPEC_FIELDS}, **changes}
    )
    version = current["definition_version"]
    assert isinstance(version, int)
    expected = expected_definition_version or version
    return update(ctx, sensor_id, spec, expected_definition_version=expected)


def pause(ctx: ServiceContext, sensor_id: str) -> Accepted:
    """Stop evaluating; pushed messages are recorded as skipped until resumed."""
    sensor = _view(ctx, sensor_id)
    if not sensor.enabled:
        raise _illegal(sensor, "pause")
    data = SensorPaused(sensor_id=sensor_id, definition_version=_next(sensor), changed_by=ctx.actor)
    return _accept_action(ctx, ctx.event(data), sensor_id)


def resume(ctx: ServiceContext, sensor_id: str) -> Accepted:
    """Evaluate again, from the cursor the sensor had when paused."""
    sensor = _view(ctx, sensor_id)
    if sensor.enabled:
        raise _illegal(sensor, "resume")
    data = SensorResumed(
        sensor_id=sensor_id, definition_version=_next(sensor), changed_by=ctx.actor
    )
    return _accept_action(ctx, ctx.event(data), sensor_id)


def reset_cursor(
    ctx: ServiceContext,
    sensor_id: str,
    cursor: str | None = None,
    *,
    expected_state_version: int | None = None,
) -> Accepted:
    """Set a poll sensor's cursor (``None``: start over); evaluations in flight go stale.

    Resetting does not re-run old run keys: they stay in the run-key index, so
    runs the sensor asks for again under keys it used before are not repeated.
    """
    sensor = _view(ctx, sensor_id)
    if sensor.kind != "poll":
        raise ValidationError(
            "only poll sensors have a cursor", field="kind", value=sensor.kind, allowed=["poll"]
        )
    if expected_state_version is not None and expected_state_version != sensor.state_version:
        raise VersionConflictError(
            f"sensor {sensor_id!r} is at state_version {sensor.state_version}",
            field="expected_state_version",
            value=expected_state_version,
            details={"current_state_version": sensor.state_version, "cursor": sensor.cursor},
        )
    data = SensorCursorReset(
        sensor_id=sensor_id, definition_version=_next(sensor), cursor=cursor, changed_by=ctx.actor
    )
    return _accept_action(ctx, ctx.event(data), sensor_id)


# --- reads -----------------------------------------------------------------------


def get(ctx: ServiceContext, sensor_id: str) -> Doc:
    """The definition with its state (cursor, state_version, status, last evaluation)."""
    definition = _definition(ctx, sensor_id)
    return _with_state(ctx, definition)


def list_sensors(
    ctx: ServiceContext,
    *,
    kind: str | None = None,
    enabled: bool | None = None,
    cursor: str | None = None,
    limit: int = 100,
) -> Page:
    """Sensors by name, filtered by kind and enabled, each with its state."""
    where: dict[str, object] = {}
    if kind is not None:
        _check_choice("kind", kind, SENSOR_KINDS)
        where["kind"] = kind
    if enabled is not None:
        where["enabled"] = enabled
    query = Query(where=where, order_by="name")
    page = ctx.reader.page(SENSOR_DEFINITIONS, ctx.scope, query, cursor=cursor, limit=_limit(limit))
    return Page([_with_state(ctx, doc) for doc in page.items], page.next_cursor)


def list_evals(
    ctx: ServiceContext,
    sensor_id: str,
    *,
    status: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    cursor: str | None = None,
    limit: int = 100,
) -> Page:
    """A sensor's evaluations, newest first (stale ones included, as ``skipped_stale_cursor``)."""
    _definition(ctx, sensor_id)
    where: dict[str, object] = {"sensor_id": sensor_id}
    if status is not None:
        _check_choice("status", status, EVAL_STATUSES)
        where["status"] = status
    low, high = _instant("since", since), _instant("until", until)
    if low is not None and high is not None and low > high:
        raise ValidationError(
            "since is after until", field="since", value=low, allowed=f"an instant <= {high}"
        )
    query = Query(
        where=where,
        ranges={"evaluated_at": (low, high)},
        order_by="evaluated_at",
        descending=True,
    )
    return ctx.reader.page(SENSOR_EVALS, ctx.scope, query, cursor=cursor, limit=_limit(limit))


# --- evaluation ------------------------------------------------------------------


def push_message(
    ctx: ServiceContext,
    sensor_id: str,
    message: PushMessage,
    evaluate: SensorDefinition,
    *,
    executor: SensorExecutor | None = None,
) -> EvaluationReport:
    """Evaluate one pushed message and record it; the same message id again is a no-op.

    A redelivered message is answered from the recorded evaluation without running
    the code again.  A paused sensor records the message as ``skipped`` (see
    :func:`arco.runtime.sensor_pass.handle_push`).
    """
    sensor = _view(ctx, sensor_id)
    _check_kind(sensor, "push")
    _check_code(sensor, evaluate)
    eval_id = sensor_eval_id(sensor_id, message.message_id, None, None)
    recorded = _recorded(ctx, eval_id)
    if recorded is not None:
        return recorded
    return handle_push(_env(ctx), sensor, message, evaluate, ctx.clock.now(), executor=executor)


def evaluate_sensor(
    ctx: ServiceContext,
    sensor_id: str,
    evaluate: SensorDefinition,
    *,
    sample_payload: PushMessage | None = None,
    cursor: str | StoredCursor | None = CURRENT,
    dry_run: bool = True,
    executor: SensorExecutor | None = None,
) -> EvaluationReport:
    """Run a sensor now and show what it would request; appends nothing unless ``dry_run=False``.

    Poll sensors evaluate from ``cursor`` (default: the stored one); push sensors
    need a ``sample_payload``.  Recording a poll evaluation goes through the same
    cursor CAS as the daemon's, so it must start from the stored cursor.
    """
    sensor = _view(ctx, sensor_id)
    _check_code(sensor, evaluate)
    if sensor.kind == "push" and sample_payload is None:
        raise ValidationError(
            "a push sensor is evaluated with a sample message",
            field="sample_payload",
            allowed="a message with message_id, data, attributes, publish_time",
        )
    if sensor.kind == "poll" and sample_payload is not None:
        raise ValidationError(
            "a poll sensor takes a cursor, not a message",
            field="sample_payload",
            allowed=["cursor"],
        )
    if not dry_run and not sensor.enabled:
        raise _illegal(sensor, "evaluate (dry_run=False)")
    if not isinstance(cursor, StoredCursor):
        if not dry_run and cursor != sensor.cursor:
            raise ValidationError(
                "a recorded evaluation starts from the stored cursor; reset the cursor first",
                field="cursor",
                value=cursor,
                allowed=[str(sensor.cursor)],
            )
        sensor = replace(sensor, cursor=cursor)
    return evaluate_once(
        _env(ctx),
        sensor,
        evaluate,
        ctx.clock.now(),
        message=sample_payload,
        executor=executor,
        append=not dry_run,
    )


# --- helpers ---------------------------------------------------------------------


def _env(ctx: ServiceContext) -> RuntimeEnv:
    return RuntimeEnv(ctx.ledger, ctx.reader, ctx.secrets, ctx.clock)


def _accept_action(ctx: ServiceContext, event: OrchestrationEvent, sensor_id: str) -> Accepted:
    """Append one operator action; a duplicate must be this very action, else it raced."""
    (outcome,) = ctx.append([event])
    if not outcome.duplicate:
        return Accepted(event.event_id, outcome.offset, False, sensor_id)
    stored = ctx.ledger.read(after_offset=outcome.offset - 1, limit=1)
    if stored and stored[0].offset == outcome.offset and stored[0].data == event.data:
        return Accepted(stored[0].event_id, outcome.offset, True, sensor_id)
    raise VersionConflictError(
        f"sensor {sensor_id!r} was changed concurrently; read it again and retry",
        field="definition_version",
        value=getattr(event.data, "definition_version", None),
        details={"sensor_id": sensor_id},
    )


def _recorded(ctx: ServiceContext, eval_id: str) -> EvaluationReport | None:
    row = ctx.reader.get(SENSOR_EVALS, ctx.scope, eval_id)
    if row is None:
        return None
    offset = ctx.reader.offset_of(ctx.scope, str(row["event_id"]))
    evaluation = None if offset is None else recorded_evaluation(_env(ctx), offset)
    if evaluation is None:
        return None
    return EvaluationReport.of(evaluation, None, duplicate=True, offset=offset)


def _view(ctx: ServiceContext, sensor_id: str) -> SensorView:
    definition = _definition(ctx, sensor_id)
    state = ctx.reader.get(SENSOR_STATE, ctx.scope, sensor_id)
    return sensor_view(ctx.scope.tenant_id, ctx.scope.workspace_id, definition, state)


def _definition(ctx: ServiceContext, sensor_id: str) -> Doc:
    doc = ctx.reader.get(SENSOR_DEFINITIONS, ctx.scope, sensor_id)
    if doc is None:
        raise NotFoundError(f"no sensor {sensor_id!r}", field="sensor_id", value=sensor_id)
    return doc


def _with_state(ctx: ServiceContext, definition: Doc) -> Doc:
    state = ctx.reader.get(SENSOR_STATE, ctx.scope, str(definition["sensor_id"])) or {}
    return {**definition, **{k: v for k, v in state.items() if k != "sensor_id"}}


def _check_name_free(ctx: ServiceContext, name: str, *, sensor_id: str | None) -> None:
    taken = ctx.reader.all(SENSOR_DEFINITIONS, ctx.scope, Query(where={"name": name}))
    if any(doc["sensor_id"] != sensor_id for doc in taken):
        raise ConflictError(
            f"a sensor named {name!r} already exists",
            field="name",
            value=name,
            details={"sensor_id": str(taken[0]["sensor_id"])},
        )


def _check_version(sensor: SensorView, expected: int | None) -> None:
    if expected is not None and expected != sensor.definition_version:
        raise VersionConflictError(
            f"sensor {sensor.sensor_id!r} is at definition_version {sensor.definition_version}",
            field="expected_definition_version",
            value=expected,
            details={"current_definition_version": sensor.definition_version},
        )


def _check_kind(sensor: SensorView, kind: str) -> None:
    if sensor.kind != kind:
        raise ValidationError(
            f"sensor {sensor.sensor_id!r} is a {sensor.kind} sensor",
            field="kind",
            value=sensor.kind,
            allowed=[kind],
        )


def _check_code(sensor: SensorView, code: SensorDefinition) -> None:
    if code.kind != sensor.kind:
        raise ValidationError(
            f"the code given for sensor {sensor.name!r} is a {code.kind} sensor",
            field="evaluate",
            value=code.name,
            allowed=[f"a {sensor.kind} sensor"],
        )


def _check_choice(field: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValidationError(
            f"unknown {field} {value!r}", field=field, value=value, allowed=list(allowed)
        )


def _illegal(sensor: SensorView, action: str) -> IllegalTransitionError:
    status = "running" if sensor.enabled else "paused"
    return IllegalTransitionError(
        f"cannot {action} sensor {sensor.sensor_id!r}: it is {status}",
        field="status",
        value=status,
        allowed=["paused"] if sensor.enabled else ["running"],
        details={"sensor_id": sensor.sensor_id, "status": status},
    )


def _next(sensor: SensorView) -> int:
    return sensor.definition_version + 1


def _limit(limit: int) -> int:
    if not 1 <= limit <= MAX_PAGE:
        raise ValidationError(
            f"limit must be between 1 and {MAX_PAGE}",
            field="limit",
            value=limit,
            allowed=f"1..{MAX_PAGE}",
        )
    return limit


def _instant(name: str, value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValidationError(
            f"{name} must carry a timezone",
            field=name,
            value=value.isoformat(),
            allowed="an ISO 8601 instant with an offset",
        )
    return iso(value)
