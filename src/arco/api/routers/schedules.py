"""Schedules: define, list, read, change, pause/resume, trigger by hand; tick history.

An invalid cron or time zone is a 422 (``invalid_cron`` / ``invalid_timezone``) naming the
field and the forms it accepts.  Changes take ``expected_version`` (409 ``version_conflict``
when another change landed first).  A manual trigger answers with its tick id and the run it
requested, so a client can wait for both with ``wait_for_event_id``.
"""

from __future__ import annotations

from typing import Annotated, Protocol

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from arco.api.errors import ERROR_RESPONSES
from arco.api.idempotency import idempotent
from arco.api.models import AcceptedResponse
from arco.api.mutations import IdempotencyKey, accepted_fields, mutate
from arco.api.params import PageParams, Paging, ReadScope, TimeRange, Window, WriteScope
from arco.api.schemas.schedules import (
    ScheduleCreate,
    ScheduleDetail,
    SchedulePage,
    SchedulePatch,
    TickPage,
    TriggerResponse,
    VersionCheck,
)
from arco.api.state import service_context
from arco.errors import ValidationError
from arco.events.schedules import ScheduleSpec
from arco.fold.rows import Scope
from arco.services import Accepted, ServiceContext, validated
from arco.services import schedules as service

router = APIRouter(prefix="/schedules", tags=["schedules"], responses=ERROR_RESPONSES)

# --- routes ---------------------------------------------------------------------------


@router.post("", status_code=202, response_model=AcceptedResponse, summary="Define a schedule")
def create_schedule(
    body: ScheduleCreate, request: Request, scope: WriteScope, key: IdempotencyKey = None
) -> JSONResponse:
    spec = validated(ScheduleSpec, body.model_dump(include=service.SPEC_FIELDS))
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
    return SchedulePage.of(result)


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
    changes = body.model_dump(exclude_unset=True, include=service.SPEC_FIELDS)
    if not changes:
        raise ValidationError(
            "nothing to change", field="body", allowed=sorted(service.SPEC_FIELDS)
        )
    return mutate(
        request,
        scope,
        key,
        body,
        lambda ctx: service.patch_schedule(
            ctx, schedule_id, changes, expected_version=body.expected_version
        ),
    )


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
    return _toggle(service.pause_schedule, schedule_id, request, scope, body, key)


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
    return _toggle(service.resume_schedule, schedule_id, request, scope, body, key)


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
        tick = service.recorded_tick(ctx, service.trigger_schedule(ctx, schedule_id))
        return 202, TriggerResponse(
            **accepted_fields(tick.accepted),
            tick_id=tick.tick_id,
            status=tick.status,
            run_id=tick.run_id,
            run_key=tick.run_key,
            run_event_id=tick.run_event_id,
        )

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


class Toggle(Protocol):
    def __call__(
        self, ctx: ServiceContext, schedule_id: str, *, expected_version: int | None = None
    ) -> Accepted: ...


def _toggle(
    change: Toggle,
    schedule_id: str,
    request: Request,
    scope: Scope,
    body: VersionCheck | None,
    key: str | None,
) -> JSONResponse:
    """Pause or resume, checking the version the body names (if any)."""
    expected = None if body is None else body.expected_version
    return mutate(
        request, scope, key, body, lambda ctx: change(ctx, schedule_id, expected_version=expected)
    )


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
    return TickPage.of(result)
