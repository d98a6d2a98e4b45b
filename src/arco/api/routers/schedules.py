"""Schedules: define, list, read, change, pause/resume, trigger by hand; tick history.

An invalid cron or time zone is a 422 (``invalid_cron`` / ``invalid_timezone``) naming the
field and the forms it accepts.  Changes take ``expected_version`` (409 ``version_conflict``
when another change landed first).  A manual trigger answers with its tick id and the run it
requested, so a client can wait for both with ``wait_for_event_id``.
"""

from __future__ import annotations

from typing import Annotated, Any

import pydantic
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from arco.api.errors import ERROR_RESPONSES
from arco.api.idempotency import idempotent
from arco.api.models import AcceptedResponse
from arco.api.mutations import IdempotencyKey, mutate
from arco.api.params import PageParams, Paging, ReadScope, TimeRange, Window, WriteScope
from arco.api.state import service_context
from arco.errors import ValidationError
from arco.events import RunRequested
from arco.events.schedules import ScheduledPartitions, ScheduleSpec, ScheduleTicked
from arco.services import Accepted, ServiceContext
from arco.services import schedules as service

router = APIRouter(prefix="/schedules", tags=["schedules"], responses=ERROR_RESPONSES)

SPEC_FIELDS: set[str] = set(ScheduleSpec.model_fields)
_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"


# --- request bodies ------------------------------------------------------------------


class ScheduleCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, description="Shown in lists and tick history")
    cron: str = Field(
        description="5 fields (minute hour day-of-month month day-of-week), 6 with seconds last, "
        "or @hourly/@daily/@weekly/@monthly/@yearly",
        examples=["0 2 * * *"],
    )
    timezone: str = Field(default="UTC", description="IANA time zone, e.g. America/New_York")
    asset_selection: list[str] = Field(min_length=1, description="Asset keys each run targets")
    partitions: ScheduledPartitions | None = Field(
        default=None, description="Which partition each tick targets (partitioned assets)"
    )
    tags: dict[str, str] = Field(default_factory=dict, description="Copied onto every run")
    catchup_window_minutes: int = Field(
        default=1440, ge=0, description="Missed ticks older than this are skipped, not run"
    )
    max_catchup_ticks: int = Field(default=10, ge=1, description="At most this many missed ticks")
    catch_up_on_resume: bool = Field(
        default=False, description="true: a resume runs the ticks missed while paused"
    )
    description: str | None = Field(default=None, max_length=10_000)
    enabled: bool = Field(default=True, description="false: created paused")
    schedule_id: str | None = Field(
        default=None,
        pattern=_ID_PATTERN,
        description="Choose the id (a retry with the same definition is harmless); "
        "default: a new ULID",
    )
    client_request_id: str | None = Field(
        default=None, min_length=1, max_length=200, description="Like Idempotency-Key"
    )


class SchedulePatch(BaseModel):
    """Only the fields sent change (``partitions: null`` removes the partition target)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    cron: str | None = None
    timezone: str | None = None
    asset_selection: list[str] | None = Field(default=None, min_length=1)
    partitions: ScheduledPartitions | None = None
    tags: dict[str, str] | None = None
    catchup_window_minutes: int | None = Field(default=None, ge=0)
    max_catchup_ticks: int | None = Field(default=None, ge=1)
    catch_up_on_resume: bool | None = None
    description: str | None = Field(default=None, max_length=10_000)
    expected_version: int | None = Field(
        default=None,
        ge=1,
        description="409 version_conflict unless this is still the definition_version "
        "(default: the version this request read)",
    )


class VersionCheck(BaseModel):
    model_config = ConfigDict(extra="forbid")

    expected_version: int | None = Field(
        default=None, ge=1, description="409 version_conflict unless this is still current"
    )


# --- responses ----------------------------------------------------------------------


class ScheduleStateOut(BaseModel):
    """What the controller has decided so far (absent before the first tick)."""

    model_config = ConfigDict(extra="allow")

    last_scheduled_at: str | None = None
    last_tick_id: str | None = None
    last_run_id: str | None = None
    last_manual_tick_id: str | None = None


class ScheduleOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    schedule_id: str
    name: str
    enabled: bool
    definition_version: int
    spec: ScheduleSpec
    created_at: str
    updated_at: str | None = None
    paused_at: str | None = None
    resumed_at: str | None = None
    changed_by: str | None = None
    definition_event_id: str | None = None


class ScheduleDetail(ScheduleOut):
    state: ScheduleStateOut | None = None
    next_tick_at: str | None = Field(default=None, description="Absent when paused")


class SchedulePage(BaseModel):
    items: list[ScheduleOut]
    next_cursor: str | None = None


class TickOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    tick_id: str
    schedule_id: str
    scheduled_epoch: int
    scheduled_at: str
    status: str = Field(description="triggered, skipped or failed")
    reason: str | None = Field(default=None, description="Why no run: paused, catchup_limit, …")
    error: str | None = None
    manual: bool = False
    run_key: str | None = None
    run_id: str | None = None
    skipped_count: int | None = Field(default=None, description="Instants this record stands for")
    skipped_through_at: str | None = None
    recorded_at: str | None = None
    event_id: str | None = None


class TickPage(BaseModel):
    items: list[TickOut]
    next_cursor: str | None = None


class TriggerResponse(AcceptedResponse):
    """A manual tick: ``id`` and ``tick_id`` name it; ``accepted_event_id`` is the tick's event."""

    tick_id: str
    status: str = Field(description="triggered, or skipped/failed when no run could be made")
    run_id: str | None = None
    run_key: str | None = None
    run_event_id: str | None = Field(
        default=None, description="The RunRequested event: wait for it to read the run"
    )


# --- routes ---------------------------------------------------------------------------


@router.post("", status_code=202, response_model=AcceptedResponse, summary="Define a schedule")
def create_schedule(
    body: ScheduleCreate, request: Request, scope: WriteScope, key: IdempotencyKey = None
) -> JSONResponse:
    spec = _spec(body.model_dump(include=SPEC_FIELDS))
    return mutate(
        request,
        scope,
        key or body.client_request_id,
        body,
        lambda ctx: service.create_schedule(
            ctx, spec, enabled=body.enabled, schedule_id=body.schedule_id
        ),
    )


@router.get("", summary="List schedules by name")
def list_schedules(
    request: Request,
    scope: ReadScope,
    page: Paging,
    enabled: Annotated[bool | None, Query(description="true: running; false: paused")] = None,
) -> SchedulePage:
    result = service.list_schedules(
        service_context(request, scope), enabled=enabled, cursor=page.cursor, limit=page.limit
    )
    return SchedulePage(
        items=[ScheduleOut.model_validate(d) for d in result.items],
        next_cursor=result.next_cursor,
    )


TickStatusQuery = Annotated[str | None, Query(description="triggered, skipped or failed")]


# Declared before /{schedule_id} so that "ticks" is never taken for a schedule id.
@router.get("/ticks", summary="Ticks of every schedule, newest scheduled instant first")
def list_all_ticks(
    request: Request, scope: ReadScope, page: Paging, window: Window, status: TickStatusQuery = None
) -> TickPage:
    return _ticks(service_context(request, scope), None, status, window, page)


@router.get("/{schedule_id}", summary="One schedule: definition, controller state, next tick")
def get_schedule(schedule_id: str, request: Request, scope: ReadScope) -> ScheduleDetail:
    return ScheduleDetail.model_validate(
        service.get_schedule(service_context(request, scope), schedule_id)
    )


@router.patch(
    "/{schedule_id}", status_code=202, response_model=AcceptedResponse, summary="Change a schedule"
)
def update_schedule(
    schedule_id: str,
    body: SchedulePatch,
    request: Request,
    scope: WriteScope,
    key: IdempotencyKey = None,
) -> JSONResponse:
    changes = body.model_dump(exclude_unset=True, include=SPEC_FIELDS)
    if not changes:
        raise ValidationError("nothing to change", field="body", allowed=sorted(SPEC_FIELDS))

    def action(ctx: ServiceContext) -> Accepted:
        current = ScheduleOut.model_validate(service.get_schedule(ctx, schedule_id))
        spec = _spec({**current.spec.model_dump(), **changes})
        # Without an explicit version, merge onto the version just read: a change landing
        # in between is a 409, never silently overwritten.
        expected = body.expected_version or current.definition_version
        return service.update_schedule(ctx, schedule_id, spec, expected_version=expected)

    return mutate(request, scope, key, body, action)


@router.post(
    "/{schedule_id}/pause",
    status_code=202,
    response_model=AcceptedResponse,
    summary="Pause (ticks are recorded as skipped, reason paused)",
)
def pause_schedule(
    schedule_id: str,
    request: Request,
    scope: WriteScope,
    body: VersionCheck | None = None,
    key: IdempotencyKey = None,
) -> JSONResponse:
    expected = None if body is None else body.expected_version
    return mutate(
        request,
        scope,
        key,
        body,
        lambda ctx: service.pause_schedule(ctx, schedule_id, expected_version=expected),
    )


@router.post(
    "/{schedule_id}/resume",
    status_code=202,
    response_model=AcceptedResponse,
    summary="Resume (from now on, unless catch_up_on_resume)",
)
def resume_schedule(
    schedule_id: str,
    request: Request,
    scope: WriteScope,
    body: VersionCheck | None = None,
    key: IdempotencyKey = None,
) -> JSONResponse:
    expected = None if body is None else body.expected_version
    return mutate(
        request,
        scope,
        key,
        body,
        lambda ctx: service.resume_schedule(ctx, schedule_id, expected_version=expected),
    )


@router.post(
    "/{schedule_id}/trigger",
    status_code=202,
    response_model=TriggerResponse,
    summary="Tick now, paused or not (tick id {schedule_id}:manual:{epoch})",
)
def trigger_schedule(
    schedule_id: str, request: Request, scope: WriteScope, key: IdempotencyKey = None
) -> JSONResponse:
    def handler() -> tuple[int, BaseModel]:
        ctx = service_context(request, scope)
        return 202, _trigger_response(ctx, service.trigger_schedule(ctx, schedule_id))

    return idempotent(request, scope, key, None, handler)


@router.get("/{schedule_id}/ticks", summary="A schedule's ticks, newest scheduled instant first")
def list_ticks(
    schedule_id: str,
    request: Request,
    scope: ReadScope,
    page: Paging,
    window: Window,
    status: TickStatusQuery = None,
) -> TickPage:
    return _ticks(service_context(request, scope), schedule_id, status, window, page)


# --- helpers ----------------------------------------------------------------------------


def _spec(fields: dict[str, Any]) -> ScheduleSpec:
    """A ScheduleSpec, its validation failures as a 422 naming the field."""
    try:
        return ScheduleSpec.model_validate(fields)
    except pydantic.ValidationError as error:
        problem = error.errors()[0]
        field = ".".join(str(part) for part in problem["loc"]) or "body"
        raise ValidationError(
            f"{field}: {problem['msg']}", field=field, value=problem.get("input")
        ) from None


def _ticks(
    ctx: ServiceContext,
    schedule_id: str | None,
    status: str | None,
    window: TimeRange,
    page: PageParams,
) -> TickPage:
    result = service.list_ticks(
        ctx,
        schedule_id,
        status=status,
        since=window.since,
        until=window.until,
        cursor=page.cursor,
        limit=page.limit,
    )
    return TickPage(
        items=[TickOut.model_validate(d) for d in result.items], next_cursor=result.next_cursor
    )


def _trigger_response(ctx: ServiceContext, accepted: Accepted) -> TriggerResponse:
    """The accepted tick with the run it requested, read back from the ledger."""
    tick_id = str(accepted.resource_id)
    scope = ctx.scope
    stored = ctx.ledger.find_by_key(scope.tenant_id, scope.workspace_id, f"sched_tick:{tick_id}")
    assert stored is not None  # appended just now
    assert isinstance(stored.data, ScheduleTicked)
    tick = stored.data
    return TriggerResponse(
        accepted_event_id=accepted.event_id,
        offset=accepted.offset,
        duplicate=accepted.duplicate,
        id=tick_id,
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
