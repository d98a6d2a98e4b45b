"""Schedule events → schedule_definitions, schedule_state (the controller's cursor), schedule_ticks.

Definitions carry ``definition_version``: an event whose version is not above the row's changes
nothing, so redelivered or out-of-order older events are harmless.  A tick id is written once
(L2-INV-1).  The state row keeps only maxima (latest instant decided, latest paused instant,
latest manual tick), so ticks folded in any order, any number of times, give the same row.
The tick is folded before its RunRequested (same batch, in that order), so the run fold finds
the tick row to correlate its run id onto.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

from arco.events.schedules import (
    INVALID_DEFINITION,
    PAUSED,
    ScheduleCreated,
    ScheduleDefinitionEvent,
    SchedulePaused,
    ScheduleResumed,
    ScheduleTicked,
    ScheduleUpdated,
)
from arco.fold.context import FoldContext, Handler, Prefetch, iso
from arco.fold.rows import Doc
from arco.fold.tables import (
    SCHEDULE_DEFINITIONS,
    SCHEDULE_STATE,
    SCHEDULE_TICKS,
    ProjectionTable,
)


def on_definition(ctx: FoldContext, data: ScheduleDefinitionEvent) -> None:
    current = ctx.get(SCHEDULE_DEFINITIONS, data.schedule_id)
    if current is None and not isinstance(data, ScheduleCreated | ScheduleUpdated):
        ctx.warn(f"{data.type} for unknown schedule {data.schedule_id!r} ignored")
        return
    updated = definition_after(current, data, ctx.at, ctx.event.event_id)
    if updated is not None:
        ctx.put(SCHEDULE_DEFINITIONS, data.schedule_id, updated)


def definition_after(
    doc: Doc | None, data: ScheduleDefinitionEvent, at: str, event_id: str
) -> Doc | None:
    """The definition row after ``data``, or None if ``data`` is not newer than ``doc``.

    Services use it too, to see definition events the compactor has not folded yet.
    """
    version = 0 if doc is None else _int(doc["definition_version"])
    if data.definition_version <= version:
        return None
    base: Doc = dict(doc) if doc is not None else _new_definition(data.schedule_id, at)
    base.update(
        definition_version=data.definition_version,
        updated_at=at,
        changed_by=data.changed_by,
        definition_event_id=event_id,
    )
    if isinstance(data, ScheduleCreated | ScheduleUpdated):
        spec = data.spec.model_dump(mode="json")
        old = base.get("spec")
        if isinstance(old, dict) and (old["cron"], old["timezone"]) != (
            spec["cron"],
            spec["timezone"],
        ):
            base["timing_changed_at"] = at
        base.update(spec=spec, name=data.spec.name)
    if isinstance(data, ScheduleCreated):
        base.update(created_at=at, enabled=data.enabled, paused_at=None if data.enabled else at)
    elif isinstance(data, SchedulePaused) and base["enabled"]:
        base.update(enabled=False, paused_at=at)
    elif isinstance(data, ScheduleResumed) and not base["enabled"]:
        base.update(enabled=True, resumed_at=at)
    return base


def _new_definition(schedule_id: str, at: str) -> Doc:
    return {
        "schedule_id": schedule_id,
        "created_at": at,
        "enabled": True,
        "paused_at": None,
        "resumed_at": None,
        "timing_changed_at": None,
    }


def on_schedule_ticked(ctx: FoldContext, data: ScheduleTicked) -> None:
    if ctx.get(SCHEDULE_TICKS, data.tick_id) is not None:
        return  # L2-INV-1: a tick id is recorded once, whatever a later copy says
    through = data.skipped_through_epoch
    ctx.put(
        SCHEDULE_TICKS,
        data.tick_id,
        {
            "tick_id": data.tick_id,
            "schedule_id": data.schedule_id,
            "scheduled_epoch": data.scheduled_epoch,
            "scheduled_at": _epoch_iso(data.scheduled_epoch),
            "status": data.status,
            "reason": data.reason,
            "error": data.error,
            "manual": data.manual,
            "snapshot": None if data.snapshot is None else data.snapshot.model_dump(mode="json"),
            "run_key": data.run_key,
            "run_id": data.run_id,
            "skipped_count": data.skipped_count,
            "skipped_through_epoch": through,
            "skipped_through_at": None if through is None else _epoch_iso(through),
            "recorded_at": ctx.at,
            "event_id": ctx.event.event_id,
        },
    )
    state = ctx.get(SCHEDULE_STATE, data.schedule_id) or _new_state(data.schedule_id)
    ctx.put(SCHEDULE_STATE, data.schedule_id, _advance(state, data))


def _new_state(schedule_id: str) -> Doc:
    return {
        "schedule_id": schedule_id,
        "last_scheduled_epoch": None,
        "last_scheduled_at": None,
        "last_tick_id": None,
        "last_triggered_epoch": None,
        "last_run_key": None,
        "last_run_id": None,
        "last_paused_epoch": None,
        "last_manual_epoch": None,
        "last_manual_tick_id": None,
    }


def _advance(state: Doc, tick: ScheduleTicked) -> Doc:
    """Fold one new tick into the state; every field is a max, so order does not matter."""
    through = tick.skipped_through_epoch or tick.scheduled_epoch
    if tick.manual:
        if _later(
            (tick.scheduled_epoch, tick.tick_id), state, "last_manual_epoch", "last_manual_tick_id"
        ):
            state.update(last_manual_epoch=tick.scheduled_epoch, last_manual_tick_id=tick.tick_id)
    elif tick.reason == PAUSED:
        # Paused instants are not decided for good: a resume may still catch them up.
        if through > (_opt_int(state["last_paused_epoch"]) or -1):
            state["last_paused_epoch"] = through
    elif tick.reason != INVALID_DEFINITION:
        if _later((through, tick.tick_id), state, "last_scheduled_epoch", "last_tick_id"):
            state.update(
                last_scheduled_epoch=through,
                last_scheduled_at=_epoch_iso(through),
                last_tick_id=tick.tick_id,
            )
        if tick.status == "triggered" and _later(
            (through, tick.tick_id), state, "last_triggered_epoch", "last_run_key"
        ):
            state.update(
                last_triggered_epoch=through, last_run_key=tick.run_key, last_run_id=tick.run_id
            )
    return state


def _later(candidate: tuple[int, str], state: Doc, epoch_field: str, id_field: str) -> bool:
    """Whether ``candidate`` (epoch, id) beats the state's; ties break on the id, for any order."""
    epoch = _opt_int(state[epoch_field])
    if epoch is None:
        return True
    return candidate > (epoch, str(state[id_field] or ""))


def _epoch_iso(epoch: int) -> str:
    return iso(datetime.fromtimestamp(epoch, UTC))


def _int(value: object) -> int:
    if not isinstance(value, int):
        raise TypeError(f"expected an int, got {value!r}")
    return value


def _opt_int(value: object) -> int | None:
    return None if value is None else _int(value)


def rows_for_definition(data: ScheduleDefinitionEvent) -> Iterator[tuple[ProjectionTable, str]]:
    yield SCHEDULE_DEFINITIONS, data.schedule_id


def rows_for_tick(data: ScheduleTicked) -> Iterator[tuple[ProjectionTable, str]]:
    yield SCHEDULE_TICKS, data.tick_id
    yield SCHEDULE_STATE, data.schedule_id


_DEFINITION_TYPES = ("ScheduleCreated", "ScheduleUpdated", "SchedulePaused", "ScheduleResumed")
HANDLERS: dict[str, Handler] = {
    **dict.fromkeys(_DEFINITION_TYPES, on_definition),
    "ScheduleTicked": on_schedule_ticked,
}
PREFETCH: dict[str, Prefetch] = {
    **dict.fromkeys(_DEFINITION_TYPES, rows_for_definition),
    "ScheduleTicked": rows_for_tick,
}
