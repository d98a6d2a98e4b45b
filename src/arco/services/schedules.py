"""Schedule services: create, update, pause, resume, trigger, and reads (the API and CLI call these).

Definition changes are versioned: each appends ``definition_version = current + 1`` under the
key ``schedule_def:{id}:{version}``.  Two writers that read the same version cannot both win:
the ledger keeps the first, and the second learns its version is stale.  The current definition
is the projection row plus any newer definition events the compactor has not folded yet (found
by their keys), so callers see their own writes and version checks ignore compaction lag.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from arco.controllers.schedules import ScheduleDefinition, iter_instants, manual_tick
from arco.cron import CronSchedule
from arco.errors import (
    ArcoError,
    ConflictError,
    NotFoundError,
    ValidationError,
    VersionConflictError,
)
from arco.events import RunRequested, StoredEvent
from arco.events.schedules import (
    TICK_STATUSES,
    ScheduleCreated,
    ScheduleDefinitionEvent,
    SchedulePaused,
    ScheduleResumed,
    ScheduleSpec,
    ScheduleTicked,
    ScheduleUpdated,
    schedule_definition_key,
)
from arco.fold.context import iso
from arco.fold.rows import Doc
from arco.fold.schedules import definition_after
from arco.fold.tables import SCHEDULE_DEFINITIONS, SCHEDULE_STATE, SCHEDULE_TICKS
from arco.ids import new_ulid
from arco.partitions import partitions_def_from_dict
from arco.services import Accepted, ServiceContext, validated
from arco.storage.reader import Page, Query

_RETRIES = 5  # attempts at a definition change racing other writers
SPEC_FIELDS: set[str] = set(ScheduleSpec.model_fields)


@dataclass(frozen=True)
class ManualTick:
    """A manual tick as the ledger recorded it, with the run it requested."""

    accepted: Accepted  # the tick's event; ``resource_id`` is the tick id
    tick_id: str
    status: str
    run_id: str | None
    run_key: str | None
    run_event_id: str | None  # the RunRequested: wait for it to read the run


# --- mutations -----------------------------------------------------------------------------


def create_schedule(
    ctx: ServiceContext, spec: ScheduleSpec, *, enabled: bool = True, schedule_id: str | None = None
) -> Accepted:
    """Validate ``spec`` and create a schedule (a new ULID unless ``schedule_id`` is given).

    Passing the same ``schedule_id`` and spec again is a harmless retry; another spec under a
    used id is a ConflictError.
    """
    validate_spec(spec)
    sid = schedule_id or new_ulid()
    data = ScheduleCreated(
        schedule_id=sid, definition_version=1, spec=spec, enabled=enabled, changed_by=ctx.actor
    )
    accepted = _append_definition(ctx, data)
    if accepted is None:
        raise ConflictError(
            f"schedule id {sid} is already used by another definition",
            field="schedule_id",
            value=sid,
        )
    return accepted


def update_schedule(
    ctx: ServiceContext,
    schedule_id: str,
    spec: ScheduleSpec,
    *,
    expected_version: int | None = None,
) -> Accepted:
    """Replace the schedule's spec (a rename keeps its id and run keys)."""
    validate_spec(spec)

    def change(current: _Current) -> ScheduleDefinitionEvent:
        version = current.version + 1
        return ScheduleUpdated(
            schedule_id=schedule_id, definition_version=version, spec=spec, changed_by=ctx.actor
        )

    return _change(ctx, schedule_id, expected_version, change)


def patch_schedule(
    ctx: ServiceContext,
    schedule_id: str,
    changes: Mapping[str, object],
    *,
    expected_version: int | None = None,
) -> Accepted:
    """Change the spec fields in ``changes`` (the others stay), merged onto the version read now.

    Without ``expected_version`` the change is checked against the version just read: a change
    landing in between is a VersionConflictError, never silently overwritten.
    """
    current = _current(ctx, schedule_id)
    spec = ScheduleSpec.model_validate(current.doc["spec"])
    merged = validated(ScheduleSpec, {**spec.model_dump(), **changes})
    return update_schedule(
        ctx, schedule_id, merged, expected_version=expected_version or current.version
    )


def pause_schedule(
    ctx: ServiceContext, schedule_id: str, *, expected_version: int | None = None
) -> Accepted:
    """Stop requesting runs; pausing a paused schedule appends nothing (``duplicate``)."""

    def change(current: _Current) -> ScheduleDefinitionEvent | None:
        if not current.enabled:
            return None
        version = current.version + 1
        return SchedulePaused(
            schedule_id=schedule_id, definition_version=version, changed_by=ctx.actor
        )

    return _change(ctx, schedule_id, expected_version, change)


def resume_schedule(
    ctx: ServiceContext, schedule_id: str, *, expected_version: int | None = None
) -> Accepted:
    """Start requesting runs again, from now on (unless the spec says ``catch_up_on_resume``)."""

    def change(current: _Current) -> ScheduleDefinitionEvent | None:
        if current.enabled:
            return None
        version = current.version + 1
        return ScheduleResumed(
            schedule_id=schedule_id, definition_version=version, changed_by=ctx.actor
        )

    return _change(ctx, schedule_id, expected_version, change)


def trigger_schedule(ctx: ServiceContext, schedule_id: str) -> Accepted:
    """A manual tick now (paused or not): tick ``{id}:manual:{epoch}`` and its run request.

    ``resource_id`` is the tick id; two triggers within one second are the same tick.
    """
    current = _current(ctx, schedule_id)
    scope = ctx.scope
    definition = ScheduleDefinition.from_doc(scope.tenant_id, scope.workspace_id, current.doc)
    decision = manual_tick(definition, ctx.clock.now(), ctx.secret)
    tick = decision[0].data
    assert isinstance(tick, ScheduleTicked)
    return ctx.accept(decision, resource_id=tick.tick_id)


def recorded_tick(ctx: ServiceContext, accepted: Accepted) -> ManualTick:
    """The manual tick ``trigger_schedule`` accepted, as recorded (a repeat is the first one)."""
    tick_id = str(accepted.resource_id)
    scope = ctx.scope
    stored = ctx.ledger.find_by_key(scope.tenant_id, scope.workspace_id, f"sched_tick:{tick_id}")
    assert stored is not None  # appended just now
    assert isinstance(stored.data, ScheduleTicked)
    tick = stored.data
    return ManualTick(
        accepted=accepted,
        tick_id=tick_id,
        status=tick.status,
        run_id=tick.run_id,
        run_key=tick.run_key,
        run_event_id=_run_event_id(ctx, stored.offset, tick),
    )


def _run_event_id(ctx: ServiceContext, tick_offset: int, tick: ScheduleTicked) -> str | None:
    """The tick's RunRequested: the next event of its batch (a batch is appended contiguously).

    Waiting for the tick's event alone may fold the ledger up to the tick and not its run.
    """
    if tick.run_key is None:
        return None
    scope = ctx.scope
    following = ctx.ledger.read(
        after_offset=tick_offset,
        limit=1,
        tenant_id=scope.tenant_id,
        workspace_id=scope.workspace_id,
    )
    if not following or not isinstance(following[0].data, RunRequested):
        return None
    return following[0].event_id if following[0].data.run_key == tick.run_key else None


# --- reads ---------------------------------------------------------------------------------


def get_schedule(ctx: ServiceContext, schedule_id: str) -> Doc:
    """The definition with its controller state and the next instant it will tick."""
    current = _current(ctx, schedule_id)
    state = ctx.reader.get(SCHEDULE_STATE, ctx.scope, schedule_id)
    return {**current.doc, "state": state, "next_tick_at": _next_tick_at(ctx, current.doc)}


def list_schedules(
    ctx: ServiceContext,
    *,
    enabled: bool | None = None,
    cursor: str | None = None,
    limit: int = 100,
) -> Page:
    """Schedules by name (then id), optionally only enabled or only paused ones."""
    where = {} if enabled is None else {"enabled": enabled}
    query = Query(where=where, order_by="name")
    return ctx.reader.page(SCHEDULE_DEFINITIONS, ctx.scope, query, cursor=cursor, limit=limit)


def list_ticks(
    ctx: ServiceContext,
    schedule_id: str | None = None,
    *,
    status: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    cursor: str | None = None,
    limit: int = 100,
) -> Page:
    """Tick history, newest scheduled instant first; ``since``/``until`` are inclusive."""
    if schedule_id is not None:
        _current(ctx, schedule_id)
    if status is not None and status not in TICK_STATUSES:
        raise ValidationError(
            f"unknown tick status {status!r}", field="status", value=status, allowed=TICK_STATUSES
        )
    low = None if since is None else int(since.timestamp())
    high = None if until is None else int(until.timestamp())
    if since is not None and until is not None and since > until:
        raise ValidationError(
            "since is after until", field="since", value=iso(since), allowed="an instant <= until"
        )
    where: dict[str, object] = {}
    if schedule_id is not None:
        where["schedule_id"] = schedule_id
    if status is not None:
        where["status"] = status
    query = Query(
        where=where,
        ranges={"scheduled_epoch": (low, high)},
        order_by="scheduled_epoch",
        descending=True,
    )
    return ctx.reader.page(SCHEDULE_TICKS, ctx.scope, query, cursor=cursor, limit=limit)


# --- validation ------------------------------------------------------------------------------


def validate_spec(spec: ScheduleSpec) -> None:
    """Raise an ArcoError naming the field (and what it allows) if ``spec`` cannot be scheduled."""
    if not spec.name.strip():
        raise ValidationError(
            "a schedule needs a name", field="name", value=spec.name, allowed="a non-empty name"
        )
    if not spec.asset_selection:
        raise ValidationError(
            "a schedule needs at least one asset",
            field="asset_selection",
            value="[]",
            allowed="one or more asset keys",
        )
    CronSchedule(spec.cron, spec.timezone)  # InvalidCronError / InvalidTimezoneError
    if spec.partitions is not None:
        try:
            partitions_def_from_dict(spec.partitions.partitions_def)
        except ArcoError as error:
            raise type(error)(
                f"partitions: {error.message}",
                field=f"partitions.partitions_def.{error.field}",
                value=error.value,
                allowed=error.allowed,
            ) from error


# --- the current definition ---------------------------------------------------------------


@dataclass(frozen=True)
class _Current:
    doc: Doc
    offset: int | None

    @property
    def version(self) -> int:
        version = self.doc["definition_version"]
        assert isinstance(version, int)
        return version

    @property
    def enabled(self) -> bool:
        return bool(self.doc["enabled"])

    def accepted(self, ctx: ServiceContext) -> Accepted:
        """The event that made the definition what it is (the answer to a no-op change)."""
        event_id = str(self.doc["definition_event_id"])
        offset = (
            self.offset if self.offset is not None else ctx.reader.offset_of(ctx.scope, event_id)
        )
        return Accepted(event_id, offset or 0, True, str(self.doc["schedule_id"]))


def _current(ctx: ServiceContext, schedule_id: str) -> _Current:
    """The projection row plus definition events appended since; NotFoundError if none."""
    doc = ctx.reader.get(SCHEDULE_DEFINITIONS, ctx.scope, schedule_id)
    offset = None
    version = 0 if doc is None else _Current(doc, None).version
    while (stored := _definition_event(ctx, schedule_id, version + 1)) is not None:
        assert isinstance(stored.data, ScheduleDefinitionEvent)
        newer = definition_after(doc, stored.data, iso(stored.timestamp), stored.event_id)
        if newer is None:
            break
        doc, offset, version = newer, stored.offset, version + 1
    if doc is None:
        raise NotFoundError(
            f"no schedule {schedule_id!r} in {ctx.scope.tenant_id}/{ctx.scope.workspace_id}",
            field="schedule_id",
            value=schedule_id,
        )
    return _Current(doc, offset)


def _definition_event(ctx: ServiceContext, schedule_id: str, version: int) -> StoredEvent | None:
    scope = ctx.scope
    key = schedule_definition_key(schedule_id, version)
    return ctx.ledger.find_by_key(scope.tenant_id, scope.workspace_id, key)


def _check_version(current: _Current, expected: int | None) -> None:
    if expected is not None and expected != current.version:
        raise _version_conflict(str(current.doc["schedule_id"]), expected, current.version)


def _version_conflict(schedule_id: str, expected: int | None, current: int) -> VersionConflictError:
    return VersionConflictError(
        f"schedule {schedule_id} is at version {current}, not {expected}",
        field="expected_version",
        value=expected,
        allowed=str(current),
        details={
            "schedule_id": schedule_id,
            "expected_version": expected,
            "current_version": current,
        },
    )


def _change(
    ctx: ServiceContext,
    schedule_id: str,
    expected_version: int | None,
    change: Callable[[_Current], ScheduleDefinitionEvent | None],
) -> Accepted:
    """Append ``change(current)`` as the next version; None means nothing to change.

    Losing the race for a version to another writer is a VersionConflictError when the
    caller named the version it expected; otherwise the change is retried on top of theirs.
    """
    for _ in range(_RETRIES):
        current = _current(ctx, schedule_id)
        _check_version(current, expected_version)
        data = change(current)
        if data is None:
            return current.accepted(ctx)
        accepted = _append_definition(ctx, data)
        if accepted is not None:
            return accepted
        if expected_version is not None:
            raise _version_conflict(
                schedule_id, expected_version, _current(ctx, schedule_id).version
            )
    raise ConflictError(
        f"schedule {schedule_id} kept changing; gave up after {_RETRIES} attempts",
        field="schedule_id",
        value=schedule_id,
    )


def _append_definition(ctx: ServiceContext, data: ScheduleDefinitionEvent) -> Accepted | None:
    """Append one definition event; None if another writer already took its version."""
    event = ctx.event(data)
    (outcome,) = ctx.append([event])
    if not outcome.duplicate:
        return Accepted(event.event_id, outcome.offset, False, data.schedule_id)
    stored = _definition_event(ctx, data.schedule_id, data.definition_version)
    if stored is not None and stored.data == data:  # our own retry: the same change
        return Accepted(stored.event_id, stored.offset, True, data.schedule_id)
    return None


def _next_tick_at(ctx: ServiceContext, doc: Doc) -> str | None:
    if not doc["enabled"]:
        return None
    scope = ctx.scope
    definition = ScheduleDefinition.from_doc(scope.tenant_id, scope.workspace_id, doc)
    try:
        return iso(next(iter_instants(definition, ctx.clock.now())))
    except (ArcoError, StopIteration):
        return None
