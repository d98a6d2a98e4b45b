"""Backfills: preview, create, list, read, chunks; pause, resume, cancel; retry the failures.

A backfill targets assets that share one partitions definition, taken from the project
the server loaded (409 ``conflict``, reason ``no_project_loaded``, without one; 422 naming
``asset_selection`` and the allowed assets for an unknown or unpartitioned asset).  Which
partitions: a ``selector`` — ``{"kind": "range", "start", "end"}`` (inclusive, never
expanded: a million partitions cost a few hundred bytes), ``{"kind": "keys", "keys"}`` or
``{"kind": "filter", "dimensions": {"region": "us-*"}, "range": …}``.

One run per chunk of ``chunk_size`` partitions; the controller plans the next chunks while
fewer than ``max_concurrent_runs`` are active.  States: PENDING → RUNNING → {PAUSED ⇄
RUNNING} → SUCCEEDED | FAILED | CANCELLED (via CANCELLING).  Pause, resume and cancel carry
the ``expected_state_version`` the caller read: a stale one is 409 ``version_conflict``
(``details.current_state_version``), a move the state machine lacks is 409
``illegal_transition`` (``details.current_state``).  ``display_state`` says
``PAUSED_WITH_FAILURES`` when a paused backfill has failed chunks.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from arco.api.errors import ERROR_RESPONSES
from arco.api.models import AcceptedResponse
from arco.api.mutations import IdempotencyKey, mutate
from arco.api.params import Paging, ReadScope, Window, WriteScope
from arco.api.schemas.backfills import (
    BackfillCreate,
    BackfillOut,
    BackfillPage,
    BackfillTarget,
    ChunkPage,
    PreviewOut,
    RetryFailedRequest,
    TransitionRequest,
)
from arco.api.state import api_state, service_context
from arco.controllers.backfill_states import Action
from arco.errors import ValidationError
from arco.services import Accepted, ServiceContext
from arco.services import backfills as service
from arco.services.backfills import PartitionsLookup
from arco.services.projects import loaded_project

router = APIRouter(prefix="/backfills", tags=["backfills"], responses=ERROR_RESPONSES)


# --- routes ---------------------------------------------------------------------------


@router.post(
    "/preview", summary="Count partitions and chunks, show the first chunk; writes nothing"
)
def preview(body: BackfillTarget, request: Request, scope: ReadScope) -> PreviewOut:
    found = service.preview(
        service_context(request, scope),
        _partitions(request),
        body.asset_selection,
        body.selector,
        body.chunk_size,
    )
    return PreviewOut(
        partition_count=found.partition_count,
        chunk_count=found.chunk_count,
        chunk_size=found.chunk_size,
        first_chunk_keys=list(found.first_chunk_keys),
        selector=found.selector,
    )


@router.post("", status_code=202, response_model=AcceptedResponse, summary="Create a backfill")
def create_backfill(
    body: BackfillCreate, request: Request, scope: WriteScope, key: IdempotencyKey = None
) -> JSONResponse:
    partitions = _partitions(request)
    request_id = body.client_request_id or key
    return mutate(
        request,
        scope,
        key or body.client_request_id,
        body,
        lambda ctx: service.create(
            ctx,
            partitions,
            asset_selection=body.asset_selection,
            selector=body.selector,
            chunk_size=body.chunk_size,
            max_concurrent_runs=body.max_concurrent_runs,
            tags=body.tags,
            client_request_id=request_id,
        ),
    )


@router.get("", summary="List backfills, newest first, with their counters")
def list_backfills(
    request: Request,
    scope: ReadScope,
    page: Paging,
    window: Window,
    state: Annotated[
        str | None,
        Query(description="PENDING, RUNNING, PAUSED, CANCELLING, SUCCEEDED, FAILED, CANCELLED"),
    ] = None,
) -> BackfillPage:
    result = service.list_backfills(
        service_context(request, scope),
        state=state,
        since=window.since,
        until=window.until,
        cursor=page.cursor,
        limit=page.limit,
    )
    return BackfillPage.of(result)


@router.get("/{backfill_id}", summary="One backfill: state, version, counters, display state")
def get_backfill(backfill_id: str, request: Request, scope: ReadScope) -> BackfillOut:
    return BackfillOut.model_validate(service.get(service_context(request, scope), backfill_id))


@router.get("/{backfill_id}/chunks", summary="A backfill's chunks in index order")
def list_chunks(
    backfill_id: str,
    request: Request,
    scope: ReadScope,
    page: Paging,
    state: Annotated[
        str | None, Query(description="planned, succeeded, failed or cancelled")
    ] = None,
) -> ChunkPage:
    result = service.list_chunks(
        service_context(request, scope),
        backfill_id,
        state=state,
        cursor=page.cursor,
        limit=page.limit,
    )
    return ChunkPage.of(result)


@router.post(
    "/{backfill_id}/pause",
    status_code=202,
    response_model=AcceptedResponse,
    summary="Pause: plan nothing new, let active chunks finish",
)
def pause_backfill(
    backfill_id: str,
    body: TransitionRequest,
    request: Request,
    scope: WriteScope,
    key: IdempotencyKey = None,
) -> JSONResponse:
    return mutate(
        request, scope, key, body, lambda ctx: _transition(ctx, "pause", backfill_id, body)
    )


@router.post(
    "/{backfill_id}/resume",
    status_code=202,
    response_model=AcceptedResponse,
    summary="Resume planning where it stopped",
)
def resume_backfill(
    backfill_id: str,
    body: TransitionRequest,
    request: Request,
    scope: WriteScope,
    key: IdempotencyKey = None,
) -> JSONResponse:
    return mutate(
        request, scope, key, body, lambda ctx: _transition(ctx, "resume", backfill_id, body)
    )


@router.post(
    "/{backfill_id}/cancel",
    status_code=202,
    response_model=AcceptedResponse,
    summary="Cancel: plan nothing new, cancel active runs, then CANCELLED",
)
def cancel_backfill(
    backfill_id: str,
    body: TransitionRequest,
    request: Request,
    scope: WriteScope,
    key: IdempotencyKey = None,
) -> JSONResponse:
    return mutate(
        request, scope, key, body, lambda ctx: _transition(ctx, "cancel", backfill_id, body)
    )


@router.post(
    "/{backfill_id}/retry-failed",
    status_code=202,
    response_model=AcceptedResponse,
    summary="A new backfill over the failed partitions only (id in `id`)",
)
def retry_failed(
    backfill_id: str,
    request: Request,
    scope: WriteScope,
    body: RetryFailedRequest | None = None,
    key: IdempotencyKey = None,
) -> JSONResponse:
    retry_request_id = (body.retry_request_id if body else None) or key
    if retry_request_id is None:
        raise ValidationError(
            "retry-failed needs a retry_request_id (or an Idempotency-Key) so that "
            "repeating the request cannot create a second retry",
            field="retry_request_id",
            allowed="1..200 characters",
        )
    return mutate(
        request,
        scope,
        key,
        body,
        lambda ctx: service.retry_failed(ctx, backfill_id, retry_request_id),
    )


# --- helpers ----------------------------------------------------------------------------


def _partitions(request: Request) -> PartitionsLookup:
    return loaded_project(api_state(request).definitions, "asset_selection").partitions_by_asset()


def _transition(
    ctx: ServiceContext, action: Action, backfill_id: str, body: TransitionRequest
) -> Accepted:
    change = {"pause": service.pause, "resume": service.resume, "cancel": service.cancel}[action]
    return change(ctx, backfill_id, body.expected_state_version, body.reason)
