"""Sensors: define, list, update, pause/resume, reset the cursor, history, evaluate, push.

Evaluating (``/evaluate``) and receiving messages (``/push``) run the user's
sensor code, found by the sensor's name in the project this server loaded; with
no project, or no sensor of that name in it, they answer 409 (never 500).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import pydantic
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from arco.api.errors import ERROR_RESPONSES
from arco.api.idempotency import idempotent
from arco.api.models import AcceptedResponse
from arco.api.mutations import IdempotencyKey, mutate
from arco.api.params import Paging, ReadScope, Window, WriteScope
from arco.api.state import api_state, service_context
from arco.errors import ConflictError, ValidationError
from arco.events import PushMessage, SensorSpec
from arco.fold.rows import Scope
from arco.ids import new_ulid
from arco.runtime.sensor_pass import EvaluationReport
from arco.sdk.definitions import Definitions
from arco.sdk.sensors import SensorDefinition, SensorMessage
from arco.services import Accepted, ServiceContext
from arco.services import sensors as service

router = APIRouter(prefix="/sensors", tags=["sensors"], responses=ERROR_RESPONSES)

SPEC_FIELDS: set[str] = set(SensorSpec.model_fields)


# --- request bodies ------------------------------------------------------------------


class SensorCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, description="Unique in the workspace")
    kind: Literal["poll", "push"] = Field(
        description="poll: called on an interval; push: per message"
    )
    asset_selection: list[str] = Field(default_factory=list, description="Assets its runs target")
    minimum_interval_seconds: int = Field(default=30, ge=1, description="Poll sensors only")
    timeout_seconds: float = Field(default=60.0, gt=0, description="Per evaluation")
    tags: dict[str, str] = Field(default_factory=dict)
    description: str | None = Field(default=None, max_length=10_000)
    enabled: bool = Field(default=True, description="false: created paused")
    client_request_id: str | None = Field(
        default=None, min_length=1, max_length=200, description="Like Idempotency-Key"
    )


class SensorPatch(BaseModel):
    """Only the fields sent change; ``kind`` cannot change."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    kind: Literal["poll", "push"] | None = None
    asset_selection: list[str] | None = None
    minimum_interval_seconds: int | None = Field(default=None, ge=1)
    timeout_seconds: float | None = Field(default=None, gt=0)
    tags: dict[str, str] | None = None
    description: str | None = Field(default=None, max_length=10_000)
    expected_definition_version: int | None = Field(
        default=None, ge=1, description="409 version_conflict unless this is still current"
    )


class CursorReset(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cursor: str | None = Field(default=None, description="The new cursor; null starts over")
    expected_state_version: int | None = Field(
        default=None, ge=0, description="409 version_conflict unless this is still current"
    )


class _MessageBody(BaseModel):
    # Pub/Sub sends both spellings and may add fields; unknown ones are ignored.
    model_config = ConfigDict(extra="ignore")

    data: str | None = Field(default=None, description="base64")
    attributes: dict[str, str] = Field(default_factory=dict)
    publish_time: str | None = Field(
        default=None,
        validation_alias=AliasChoices("publishTime", "publish_time"),
        description="RFC 3339",
    )

    def _push(self, message_id: str) -> PushMessage:
        """The ledger's message, after checking that data and time decode (else 422)."""
        message = PushMessage(
            message_id=message_id,
            data=self.data,
            attributes=self.attributes,
            publish_time=self.publish_time,
        )
        SensorMessage.from_push(message)
        return message


class PubSubMessage(_MessageBody):
    """A Pub/Sub message: ``messageId`` or ``message_id``; ``data`` is base64."""

    message_id: str = Field(
        min_length=1,
        max_length=512,
        validation_alias=AliasChoices("messageId", "message_id"),
        description="Redelivering the same id creates nothing new",
    )

    def to_push(self) -> PushMessage:
        return self._push(self.message_id)


class SampleMessage(_MessageBody):
    """A sample message for a manual evaluation; without ``message_id``, a fresh one."""

    message_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=512,
        validation_alias=AliasChoices("messageId", "message_id"),
    )

    def to_push(self) -> PushMessage:
        # Generated here, not as a field default, so a retried request hashes the same.
        return self._push(self.message_id or f"manual-{new_ulid()}")


class PushEnvelope(BaseModel):
    """The body of a Pub/Sub push subscription."""

    model_config = ConfigDict(extra="ignore")

    message: PubSubMessage
    subscription: str | None = None


class EvaluateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dry_run: bool = Field(default=True, description="true: append nothing, show the decision")
    cursor: str | None = Field(
        default=None, description="Poll sensors: evaluate from this cursor (absent: the stored one)"
    )
    sample_payload: SampleMessage | None = Field(
        default=None, description="Push sensors: the message to evaluate"
    )


# --- responses ----------------------------------------------------------------------


class SensorOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    sensor_id: str
    name: str
    kind: str
    enabled: bool
    status: str | None = Field(default=None, description="running or paused")
    asset_selection: list[str] = Field(default_factory=list)
    minimum_interval_seconds: int
    timeout_seconds: float
    tags: dict[str, str] = Field(default_factory=dict)
    description: str | None = None
    definition_version: int
    cursor: str | None = None
    state_version: int = 0
    last_evaluated_at: str | None = None
    last_eval_status: str | None = None
    created_at: str | None = None
    updated_at: str | None = None


class SensorPage(BaseModel):
    items: list[SensorOut]
    next_cursor: str | None = None


class EvalOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    eval_id: str
    sensor_id: str
    kind: str
    status: str = Field(description="ok, skipped, error or skipped_stale_cursor")
    evaluated_at: str
    message_id: str | None = None
    cursor_before: str | None = None
    cursor_after: str | None = None
    run_keys: list[str] = Field(default_factory=list)
    skip_reason: str | None = None
    error: str | None = None


class EvalPage(BaseModel):
    items: list[EvalOut]
    next_cursor: str | None = None


class RequestedRunOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    run_key: str
    run_id: str
    asset_selection: list[str]
    partition_selection: dict[str, Any] | None = None
    tags: dict[str, str] = Field(default_factory=dict)


class EvaluationOut(BaseModel):
    """What one evaluation decided; ``appended`` says whether it is in the ledger now."""

    sensor_id: str
    eval_id: str
    kind: str
    status: str
    run_requests: list[RequestedRunOut]
    cursor_before: str | None = None
    cursor_after: str | None = None
    skip_reason: str | None = None
    error: str | None = None
    dry_run: bool
    appended: bool
    duplicate: bool = Field(description="This evaluation was already recorded (redelivery)")
    accepted_event_id: str | None = Field(
        default=None, description="The recorded evaluation; usable as wait_for_event_id"
    )
    offset: int | None = None


# --- routes ---------------------------------------------------------------------------


@router.post("", status_code=202, response_model=AcceptedResponse, summary="Define a sensor")
def create_sensor(
    body: SensorCreate, request: Request, scope: WriteScope, key: IdempotencyKey = None
) -> JSONResponse:
    spec = _spec(body.model_dump(include=SPEC_FIELDS))
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
    return SensorPage(
        items=[SensorOut.model_validate(d) for d in result.items], next_cursor=result.next_cursor
    )


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
    changes = body.model_dump(exclude_unset=True, include=SPEC_FIELDS)
    if not changes:
        raise ValidationError(
            "nothing to change", field="body", allowed=sorted(SPEC_FIELDS - {"kind"})
        )

    def action(ctx: ServiceContext) -> Accepted:
        current = service.get(ctx, sensor_id)
        spec = _spec({**{k: v for k, v in current.items() if k in SPEC_FIELDS}, **changes})
        # Without an explicit version, merge onto the version just read: a change
        # landing in between is a 409, not silently overwritten.
        expected = (
            body.expected_definition_version or SensorOut.model_validate(current).definition_version
        )
        return service.update(ctx, sensor_id, spec, expected_definition_version=expected)

    return mutate(request, scope, key, body, action)


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
    return EvalPage(
        items=[EvalOut.model_validate(d) for d in result.items], next_cursor=result.next_cursor
    )


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
            _sensor_code(request, ctx, sensor_id),
            sample_payload=sample,
            cursor=cursor,
            dry_run=body.dry_run,
        )
        return (200 if body.dry_run else 202), _evaluation(request, scope, report, body.dry_run)

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
    report = service.push_message(ctx, sensor_id, message, _sensor_code(request, ctx, sensor_id))
    # Any 2xx acknowledges the message; a redelivery answers 202 too, so Pub/Sub stops.
    out = _evaluation(request, scope, report, dry_run=False)
    return JSONResponse(out.model_dump(mode="json"), status_code=202)


# --- helpers ----------------------------------------------------------------------------


def _spec(fields: dict[str, Any]) -> SensorSpec:
    """A SensorSpec, its validation failures as a 422 naming the field."""
    try:
        return SensorSpec.model_validate(fields)
    except pydantic.ValidationError as error:
        problem = error.errors()[0]
        field = ".".join(str(part) for part in problem["loc"]) or "body"
        raise ValidationError(
            f"{field}: {problem['msg']}", field=field, value=problem.get("input")
        ) from None


def _sensor_code(request: Request, ctx: ServiceContext, sensor_id: str) -> SensorDefinition:
    """The loaded project's code for this sensor (404 before 409: never leak other tenants)."""
    name = str(service.get(ctx, sensor_id)["name"])
    definitions = api_state(request).definitions
    if not isinstance(definitions, Definitions):
        raise ConflictError(
            "this server has no project loaded, so it cannot run sensor code; "
            "start it with the project that defines the sensor",
            field="sensor_id",
            value=sensor_id,
            details={"sensor": name, "reason": "no_project_loaded"},
        )
    code = definitions.sensors_by_name.get(name)
    if code is None:
        raise ConflictError(
            f"the loaded project defines no sensor named {name!r}",
            field="name",
            value=name,
            allowed=sorted(definitions.sensors_by_name),
            details={"sensor_id": sensor_id, "reason": "no_sensor_code"},
        )
    return code


def _evaluation(
    request: Request, scope: Scope, report: EvaluationReport, dry_run: bool
) -> EvaluationOut:
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
        accepted_event_id=report.event_id or _event_id_at(request, scope, report.offset),
        offset=report.offset,
    )


def _event_id_at(request: Request, scope: Scope, offset: int | None) -> str | None:
    """The id of the event recorded earlier (a redelivery's report carries only its offset)."""
    if offset is None:
        return None
    stored = api_state(request).ledger.read(
        after_offset=offset - 1, limit=1, tenant_id=scope.tenant_id, workspace_id=scope.workspace_id
    )
    return stored[0].event_id if stored and stored[0].offset == offset else None
