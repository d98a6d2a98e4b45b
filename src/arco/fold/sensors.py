"""Sensor events → sensor_definitions, sensor_state (cursor CAS) and sensor_evals.

Definition events (create, update, pause, resume, cursor reset) apply only when
their ``definition_version`` is newer than the definition's, so a redelivered
one is a no-op.  A SensorEvaluated applies once per evaluation id (same push
message, or same poll epoch and cursor → nothing new).  A poll evaluation is a
compare-and-set: accepted only if the sensor is still at the state version it
started from, else recorded as ``skipped_stale_cursor`` and none of its runs
are created (fold/runs.py checks that status for the RunRequested events).
"""

from __future__ import annotations

from collections.abc import Iterator

from arco.events import (
    SensorCreated,
    SensorCursorReset,
    SensorEvaluated,
    SensorPaused,
    SensorResumed,
    SensorSource,
    SensorUpdated,
)
from arco.fold.context import FoldContext, Handler, Prefetch
from arco.fold.rows import Doc
from arco.fold.runs import STALE_EVAL_STATUS, request_run, rows_for_run_requested
from arco.fold.tables import SENSOR_DEFINITIONS, SENSOR_EVALS, SENSOR_STATE, ProjectionTable

DefinitionEvent = SensorUpdated | SensorPaused | SensorResumed | SensorCursorReset


def on_sensor_created(ctx: FoldContext, data: SensorCreated) -> None:
    if ctx.get(SENSOR_DEFINITIONS, data.sensor_id) is not None:
        return
    ctx.put(
        SENSOR_DEFINITIONS,
        data.sensor_id,
        {
            **data.spec.model_dump(mode="json"),
            "sensor_id": data.sensor_id,
            "enabled": data.enabled,
            "definition_version": data.definition_version,
            "created_at": ctx.at,
            "updated_at": ctx.at,
        },
    )
    ctx.put(
        SENSOR_STATE,
        data.sensor_id,
        {
            "sensor_id": data.sensor_id,
            "status": _status(data.enabled),
            "cursor": None,
            "state_version": 0,
            "last_evaluated_at": None,
            "last_eval_id": None,
            "last_eval_status": None,
        },
    )


def on_sensor_updated(ctx: FoldContext, data: SensorUpdated) -> None:
    definition = _newer_definition(ctx, data)
    if definition is not None:
        _put_definition(ctx, data, {**definition, **data.spec.model_dump(mode="json")})


def on_sensor_paused(ctx: FoldContext, data: SensorPaused) -> None:
    _set_enabled(ctx, data, enabled=False)


def on_sensor_resumed(ctx: FoldContext, data: SensorResumed) -> None:
    _set_enabled(ctx, data, enabled=True)


def on_sensor_cursor_reset(ctx: FoldContext, data: SensorCursorReset) -> None:
    """New cursor, and a state version bump that makes in-flight evaluations stale."""
    definition = _newer_definition(ctx, data)
    state = ctx.get(SENSOR_STATE, data.sensor_id)
    if definition is None or state is None:
        return
    _put_definition(ctx, data, definition)
    ctx.put(
        SENSOR_STATE,
        data.sensor_id,
        {
            **state,
            "cursor": data.cursor,
            "state_version": _int(state["state_version"]) + 1,
            "last_reset_at": ctx.at,
            "last_reset_by": data.changed_by,
        },
    )


def on_sensor_evaluated(ctx: FoldContext, data: SensorEvaluated) -> None:
    eval_id = data.eval_id
    if ctx.get(SENSOR_EVALS, eval_id) is not None:
        return  # L2-INV-2 / L2-INV-3: this evaluation was folded already
    state = ctx.get(SENSOR_STATE, data.sensor_id)
    row = _eval_row(ctx, data)
    if state is None:
        ctx.warn(f"evaluation {eval_id} of unknown sensor {data.sensor_id} recorded as stale")
        row.update(status=STALE_EVAL_STATUS, skip_reason="unknown sensor")
    elif data.kind == "poll" and data.status != "error":
        state = _compare_and_set(state, data, row)
    if state is not None:
        ctx.put(SENSOR_STATE, data.sensor_id, _with_last_evaluation(state, eval_id, row, ctx.at))
    ctx.put(SENSOR_EVALS, eval_id, row)
    if row["status"] == "ok":
        # The runs are created here, from the copy the evaluation carries, not only by
        # the RunRequested events after it: the ledger may have dropped one of those as
        # a duplicate of a RunRequested that a stale evaluation carried earlier.
        source = SensorSource(sensor_id=data.sensor_id, eval_id=eval_id)
        for run in data.run_requests:
            request_run(ctx, run.run_requested(source))


def _compare_and_set(state: Doc, data: SensorEvaluated, row: Doc) -> Doc:
    """Accept a poll evaluation only from the current state version (updates ``row``)."""
    current = _int(state["state_version"])
    if data.expected_state_version != current:
        row.update(
            status=STALE_EVAL_STATUS,
            skip_reason=(
                f"stale cursor: evaluated from state_version {data.expected_state_version}, "
                f"sensor is at {current}"
            ),
        )
        return state
    row["state_version"] = current + 1
    return {**state, "cursor": data.cursor_after, "state_version": current + 1}


def _eval_row(ctx: FoldContext, data: SensorEvaluated) -> Doc:
    return {
        "eval_id": data.eval_id,
        "sensor_id": data.sensor_id,
        "kind": data.kind,
        "status": data.status,
        "evaluated_at": ctx.at,
        "event_id": ctx.event.event_id,
        "message_id": data.message_id,
        "poll_epoch": data.poll_epoch,
        "cursor_before": data.cursor_before,
        "cursor_after": data.cursor_after,
        "expected_state_version": data.expected_state_version,
        "state_version": None,
        "run_keys": list(data.run_keys),
        "run_ids": [],
        "skip_reason": data.skip_reason,
        "error": data.error,
    }


def _with_last_evaluation(state: Doc, eval_id: str, row: Doc, at: str) -> Doc:
    """Keep the latest evaluation by (time, id): the same result in any arrival order."""
    last_at, last_id = state.get("last_evaluated_at"), state.get("last_eval_id")
    if last_at is not None and (str(last_at), str(last_id)) >= (at, eval_id):
        return state
    return {
        **state,
        "last_evaluated_at": at,
        "last_eval_id": eval_id,
        "last_eval_status": row["status"],
    }


def _newer_definition(ctx: FoldContext, data: DefinitionEvent) -> Doc | None:
    definition = ctx.get(SENSOR_DEFINITIONS, data.sensor_id)
    if definition is None:
        ctx.warn(f"{data.type} for unknown sensor {data.sensor_id} skipped")
        return None
    if data.definition_version <= _int(definition["definition_version"]):
        return None
    return definition


def _put_definition(ctx: FoldContext, data: DefinitionEvent, definition: Doc) -> None:
    ctx.put(
        SENSOR_DEFINITIONS,
        data.sensor_id,
        {**definition, "definition_version": data.definition_version, "updated_at": ctx.at},
    )


def _set_enabled(ctx: FoldContext, data: SensorPaused | SensorResumed, *, enabled: bool) -> None:
    definition = _newer_definition(ctx, data)
    if definition is None:
        return
    _put_definition(ctx, data, {**definition, "enabled": enabled, "changed_by": data.changed_by})
    state = ctx.get(SENSOR_STATE, data.sensor_id)
    if state is not None:
        ctx.put(SENSOR_STATE, data.sensor_id, {**state, "status": _status(enabled)})


def _status(enabled: bool) -> str:
    return "running" if enabled else "paused"


def _int(value: object) -> int:
    return value if isinstance(value, int) else int(str(value))


def rows_for_definition(
    data: SensorCreated | DefinitionEvent,
) -> Iterator[tuple[ProjectionTable, str]]:
    yield SENSOR_DEFINITIONS, data.sensor_id
    yield SENSOR_STATE, data.sensor_id


def rows_for_evaluation(data: SensorEvaluated) -> Iterator[tuple[ProjectionTable, str]]:
    yield SENSOR_EVALS, data.eval_id
    yield SENSOR_STATE, data.sensor_id
    source = SensorSource(sensor_id=data.sensor_id, eval_id=data.eval_id)
    for run in data.run_requests:
        yield from rows_for_run_requested(run.run_requested(source))


HANDLERS: dict[str, Handler] = {
    "SensorCreated": on_sensor_created,
    "SensorUpdated": on_sensor_updated,
    "SensorPaused": on_sensor_paused,
    "SensorResumed": on_sensor_resumed,
    "SensorCursorReset": on_sensor_cursor_reset,
    "SensorEvaluated": on_sensor_evaluated,
}
PREFETCH: dict[str, Prefetch] = {
    "SensorCreated": rows_for_definition,
    "SensorUpdated": rows_for_definition,
    "SensorPaused": rows_for_definition,
    "SensorResumed": rows_for_definition,
    "SensorCursorReset": rows_for_definition,
    "SensorEvaluated": rows_for_evaluation,
}
