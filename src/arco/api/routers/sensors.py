"""Sensors: define, list, update, pause/resume, reset the cursor, history, evaluate, push.

Evaluating (``/evaluate``) and receiving messages (``/push``) run the user's
sensor code, found by the sensor's name in the project this server loaded; with
no project, or no sensor of that name in it, they answer 409 (never 500).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from arco.api.errors import ERROR_RESPONSES
from arco.api.idempotency import idempotent
from arco.api.models import AcceptedResponse
from arco.api.mutations import IdempotencyKey, mutate
from arco.api.params import Paging, ReadScope, Window, WriteScope
from arco.api.schemas.sensors import (
    CursorReset,
    EvalPage,
    EvaluateRequest,
    EvaluationOut,
    PushEnvelope,
    RequestedRunOut,
    SensorCreate,
    SensorOut,
    SensorPage,
    SensorPatch,
)
from arco.api.state import api_state, service_context
from arco.errors import ValidationError
from arco.events import SensorSpec
from arco.runtime.sensor_pass import EvaluationReport
from arco.services import ServiceContext, validated
from arco.services import sensors as service
from arco.services.projects import sensor_code

router = APIRouter(prefix="/sensors", tags=["sensors"], responses=ERROR_RESPONSES)

# --- routes ---------------------------------------------------------------------------


@router.post("", status_code=202, response_model=AcceptedResponse, summary="Define a sensor")
def create_sensor(
    body: SensorCreate, request: Request, scope: WriteScope, key: IdempotencyKey = None
) -> JSONResponse:
    spec = validated(SensorSpec, body.model_dump(include=service.SPEC_FIELDS))
    return mutate(
        request,
        scope,
        key or body.client_request_id,
        body,
        lambda ctx: service.create(ctx, spec, enabled=body.enabled),
    )


@router.get("", summary="List sensors by name")
def list_sensors(
    request: Request,
    scope: ReadScope,
    page: Paging,
    kind: Annotated[str | None, Query(description="poll or push")] = None,
    enabled: Annotated[bool | None, Query(description="true: running; false: paused")] = None,
) -> SensorPage:
    result = service.list_sensors(
        service_context(request, scope),
        kind=kind,
        enabled=enabled,
        cursor=page.cursor,
        limit=page.limit,
    )
    return SensorPage.of(result)


@router.get("/{sensor_id}", summary="One sensor with its cursor and last evaluation")
def get_sensor(sensor_id: str, request: Request, scope: ReadScope) -> SensorOut:
    return SensorOut.model_validate(service.get(service_context(request, scope), sensor_id))


@router.patch(
    "/{sensor_id}", status_code=202, response_model=AcceptedResponse, summary="Change a sensor"
)
def update_sensor(
    sensor_id: str,
    body: SensorPatch,
    request: Request,
    scope: WriteScope,
    key: IdempotencyKey = None,
) -> JSONResponse:
    changes = body.model_dump(exclude_unset=True, include=service.SPEC_FIELDS)
    if not changes:
        raise ValidationError(
            "nothing to change", field="body", allowed=sorted(service.SPEC_FIELDS - {"kind"})
        )
    return mutate(
        request,
        scope,
        key,
        body,
        lambda ctx: service.patch(
            ctx,
            sensor_id,
            changes,
            expected_definition_version=body.expected_definition_version,
        ),
    )


@router.post(
    "/{sensor_id}/pause", status_code=202, response_model=AcceptedResponse, summary="Pause"
)
def pause_sensor(
    sensor_id: str, request: Request, scope: WriteScope, key: IdempotencyKey = None
) -> JSONResponse:
    return mutate(request, scope, key, None, lambda ctx: service.pause(ctx, sensor_id))


@router.post(
    "/{sensor_id}/resume", status_code=202, response_model=AcceptedResponse, summary="Resume"
)
def resume_sensor(
    sensor_id: str, request: Request, scope: WriteScope, key: IdempotencyKey = None
) -> JSONResponse:
    return mutate(request, scope, key, None, lambda ctx: service.resume(ctx, sensor_id))


@router.post(
    "/{sensor_id}/reset-cursor",
    status_code=202,
    response_model=AcceptedResponse,
    summary="Set a poll sensor's cursor (old run keys are not run again)",
)
def reset_cursor(
    sensor_id: str,
    body: CursorReset,
    request: Request,
    scope: WriteScope,
    key: IdempotencyKey = None,
) -> JSONResponse:
    return mutate(
        request,
        scope,
        key,
        body,
        lambda ctx: service.reset_cursor(
            ctx, sensor_id, body.cursor, expected_state_version=body.expected_state_version
        ),
    )


@router.get("/{sensor_id}/evals", summary="A sensor's evaluations, newest first")
def list_evals(
    sensor_id: str,
    request: Request,
    scope: ReadScope,
    page: Paging,
    window: Window,
    status: Annotated[
        str | None, Query(description="ok, skipped, error, skipped_stale_cursor")
    ] = None,
) -> EvalPage:
    result = service.list_evals(
        service_context(request, scope),
        sensor_id,
        status=status,
        since=window.since,
        until=window.until,
        cursor=page.cursor,
        limit=page.limit,
    )
    return EvalPage.of(result)


@router.post(
    "/{sensor_id}/evaluate",
    response_model=EvaluationOut,
    responses={202: {"model": EvaluationOut, "description": "Evaluated and recorded"}},
    summary="Run the sensor now (a dry run unless dry_run=false)",
)
def evaluate_sensor(
    sensor_id: str,
    body: EvaluateRequest,
    request: Request,
    scope: WriteScope,
    key: IdempotencyKey = None,
) -> JSONResponse:
    cursor = body.cursor if "cursor" in body.model_fields_set else service.CURRENT
    sample = None if body.sample_payload is None else body.sample_payload.to_push()

    def handler() -> tuple[int, BaseModel]:
        ctx = service_context(request, scope)
        report = service.evaluate_sensor(
            ctx,
            sensor_id,
            sensor_code(ctx, api_state(request).definitions, sensor_id),
            sample_payload=sample,
            cursor=cursor,
            dry_run=body.dry_run,
        )
        return (200 if body.dry_run else 202), _evaluation(ctx, report, body.dry_run)

    # A dry run changes nothing, so there is no answer worth keeping for a retry.
    return idempotent(request, scope, None if body.dry_run else key, body, handler)


@router.post(
    "/{sensor_id}/push",
    status_code=202,
    response_model=EvaluationOut,
    summary="Receive a Pub/Sub push message (a redelivered message id is a no-op)",
)
def push_message(
    sensor_id: str, body: PushEnvelope, request: Request, scope: WriteScope
) -> JSONResponse:
    message = body.message.to_push()
    ctx = service_context(request, scope)
    code = sensor_code(ctx, api_state(request).definitions, sensor_id)
    report = service.push_message(ctx, sensor_id, message, code)
    # Any 2xx acknowledges the message; a redelivery answers 202 too, so Pub/Sub stops.
    out = _evaluation(ctx, report, dry_run=False)
    return JSONResponse(out.model_dump(mode="json"), status_code=202)


# --- helpers ----------------------------------------------------------------------------


def _evaluation(ctx: ServiceContext, report: EvaluationReport, dry_run: bool) -> EvaluationOut:
    # A redelivery's report carries only the offset of the evaluation recorded earlier.
    recorded = None if report.offset is None else ctx.event_at(report.offset)
    return EvaluationOut(
        sensor_id=report.sensor_id,
        eval_id=report.eval_id,
        kind=report.kind,
        status=report.status,
        run_requests=[
            RequestedRunOut.model_validate(r.model_dump(mode="json")) for r in report.run_requests
        ],
        cursor_before=report.cursor_before,
        cursor_after=report.cursor_after,
        skip_reason=report.skip_reason,
        error=report.error,
        dry_run=dry_run,
        appended=report.appended,
        duplicate=report.duplicate,
        accepted_event_id=report.event_id or (None if recorded is None else recorded.event_id),
        offset=report.offset,
    )
