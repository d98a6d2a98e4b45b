"""The worker contract: what a remote worker does over HTTP instead of touching the database.

A worker loops:

1. **Poll** ``GET /workers/tasks?state=dispatched``: attempts waiting for a worker, oldest
   ready first (``run_id``, ``task_key``, ``attempt``, ``attempt_id``, ``asset_key``,
   ``partition_key``, ``code_version``).
2. **Claim** one: ``POST /workers/claims`` with its ``attempt_id`` and the worker's
   ``worker_id``.  The claim is a ``TaskStarted`` event whose idempotency key is
   ``task_started:{attempt_id}``; the ledger keeps only the first, so exactly one claim per
   attempt wins.  ``claimed: true``: run it.  ``claimed: false``: another worker holds it
   (``holder_worker_id``), pick another.  Repeating your own claim (a timeout, a retry)
   answers ``claimed: true`` again while the attempt is unfinished.  The lease never expires
   by itself: stop heartbeating and the engine gives the task a new attempt (a new
   ``attempt_id``), after which reports of the old one only annotate its history.
3. **Heartbeat** while running: ``POST /workers/heartbeats`` with an increasing
   ``sequence``.  The answer's ``stop: true`` (with ``stop_reason``) means kill the attempt:
   its run is being cancelled (report ``cancelled``) or the attempt was superseded.
4. **Report** the end: ``POST /workers/results`` with the outcome (``succeeded``, ``failed``
   or ``cancelled``), the task's ``asset_key``/``partition_key``, the ``code_version`` that
   ran, ``metadata`` and, when it failed, an ``error`` ``{kind, message, traceback}``.
   Delivery is at least once: retry until 202; ``duplicate: true`` means it was recorded.
   ``late: true`` (see ``recorded_outcome``) means the report did not decide the task: the
   attempt had been superseded, or the engine had already failed it (heartbeat timeout).

Send ``worker_id`` on heartbeats and results too to have them refused (409, reason
``not_lease_holder``) unless this worker's claim won the attempt.  Every route answers 404 for
a task outside the caller's tenant and workspace.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from arco.api.errors import ERROR_RESPONSES
from arco.api.idempotency import idempotent
from arco.api.mutations import IdempotencyKey, accepted_fields
from arco.api.params import Paging, ReadScope, WriteScope
from arco.api.schemas.workers import (
    ClaimOut,
    ClaimRequest,
    HeartbeatOut,
    HeartbeatRequest,
    ResultOut,
    ResultRequest,
    WorkerTaskPage,
    WorkerTaskState,
)
from arco.api.state import service_context
from arco.events import TaskFinished, TaskHeartbeat, TaskStarted
from arco.services import workers as service

router = APIRouter(prefix="/workers", tags=["workers"], responses=ERROR_RESPONSES)


@router.get("/tasks", summary="Attempts waiting for a worker (or being run), oldest ready first")
def list_tasks(
    request: Request,
    scope: ReadScope,
    page: Paging,
    state: Annotated[
        WorkerTaskState, Query(description="dispatched: claimable; running: claimed")
    ] = "dispatched",
    asset_key: Annotated[
        str | None, Query(min_length=1, description="Only this asset's tasks")
    ] = None,
) -> WorkerTaskPage:
    found = service.list_worker_tasks(
        service_context(request, scope),
        state=state,
        asset_key=asset_key,
        cursor=page.cursor,
        limit=page.limit,
    )
    return WorkerTaskPage.of(found)


@router.post(
    "/claims",
    status_code=202,
    response_model=ClaimOut,
    summary="Claim a dispatched attempt (TaskStarted): claimed true for exactly one worker",
)
def claim(
    body: ClaimRequest, request: Request, scope: WriteScope, key: IdempotencyKey = None
) -> JSONResponse:
    started = TaskStarted(**body.model_dump())

    def handler() -> tuple[int, BaseModel]:
        answer = service.claim_attempt(service_context(request, scope), started)
        return 202, ClaimOut(
            **accepted_fields(answer.accepted),
            claimed=answer.claimed,
            holder_worker_id=answer.holder_worker_id,
            run_id=body.run_id,
            task_key=body.task_key,
            attempt=body.attempt,
            attempt_id=body.attempt_id,
        )

    return idempotent(request, scope, key, body, handler)


@router.post(
    "/heartbeats",
    status_code=202,
    response_model=HeartbeatOut,
    summary="The attempt is alive (TaskHeartbeat); the answer says whether to stop it",
)
def heartbeat(
    body: HeartbeatRequest, request: Request, scope: WriteScope, key: IdempotencyKey = None
) -> JSONResponse:
    beat = TaskHeartbeat(**body.model_dump(exclude={"attempt", "worker_id"}))

    def handler() -> tuple[int, BaseModel]:
        answer = service.record_heartbeat(
            service_context(request, scope), beat, attempt=body.attempt, worker_id=body.worker_id
        )
        return 202, HeartbeatOut(
            **accepted_fields(answer.accepted), stop=answer.stop, stop_reason=answer.stop_reason
        )

    return idempotent(request, scope, key, body, handler)


@router.post(
    "/results",
    status_code=202,
    response_model=ResultOut,
    summary="The attempt ended (TaskFinished): succeeded, failed or cancelled",
)
def report_result(
    body: ResultRequest, request: Request, scope: WriteScope, key: IdempotencyKey = None
) -> JSONResponse:
    finished = TaskFinished(**body.model_dump(exclude={"worker_id"}))

    def handler() -> tuple[int, BaseModel]:
        answer = service.report_result(
            service_context(request, scope), finished, worker_id=body.worker_id
        )
        return 202, ResultOut(
            **accepted_fields(answer.accepted),
            late=answer.late,
            recorded_outcome=answer.recorded_outcome,
        )

    return idempotent(request, scope, key, body, handler)
