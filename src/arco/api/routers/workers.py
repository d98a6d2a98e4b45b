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

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from arco.api.errors import ERROR_RESPONSES
from arco.api.idempotency import idempotent
from arco.api.models import AcceptedResponse
from arco.api.mutations import IdempotencyKey
from arco.api.params import Paging, ReadScope, WriteScope
from arco.api.state import service_context
from arco.errors import ConflictError, NotFoundError, ValidationError
from arco.events import Payload, TaskFinished, TaskHeartbeat, TaskStarted, UnknownEvent
from arco.events.execution import TaskError, TaskOutcome
from arco.fold.execution_state import ACTIVE_TASK_STATES, task_pk
from arco.fold.rows import Doc
from arco.fold.tables import RUNS, TASKS
from arco.services import Accepted, ServiceContext
from arco.storage.reader import Query as ProjectionQuery

router = APIRouter(prefix="/workers", tags=["workers"], responses=ERROR_RESPONSES)

WorkerTaskState = Literal["dispatched", "running"]


# --- bodies ---------------------------------------------------------------------------


class AttemptRef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    run_id: str = Field(min_length=1, max_length=500)
    task_key: str = Field(min_length=1, max_length=500)
    attempt_id: str = Field(min_length=1, max_length=500, description="From GET /workers/tasks")


class ClaimRequest(AttemptRef):
    attempt: int = Field(ge=1, description="The attempt number listed with the attempt_id")
    worker_id: str = Field(min_length=1, max_length=200, description="Who runs it (shown on tasks)")


class HeartbeatRequest(AttemptRef):
    sequence: int = Field(ge=0, description="Increases with every heartbeat of the attempt")
    attempt: int | None = Field(default=None, ge=1, description="Checked when given")
    worker_id: str | None = Field(
        default=None, min_length=1, max_length=200, description="Check the lease (optional)"
    )


class ResultRequest(AttemptRef):
    attempt: int = Field(ge=1)
    outcome: TaskOutcome
    asset_key: str = Field(min_length=1, description="The task's asset (as listed)")
    partition_key: str | None = Field(default=None, description="The task's partition, if any")
    code_version: str | None = Field(default=None, description="The code version that ran")
    metadata: dict[str, str | int | float | bool | None] = Field(default_factory=dict)
    error: TaskError | None = Field(default=None, description="Why it failed")
    worker_id: str | None = Field(
        default=None, min_length=1, max_length=200, description="Check the lease (optional)"
    )


# --- responses ----------------------------------------------------------------------


class WorkerTaskOut(BaseModel):
    run_id: str
    task_key: str
    attempt: int
    attempt_id: str
    asset_key: str
    partition_key: str | None = None
    code_version: str | None = None
    state: str
    ready_at: str | None = None
    dispatched_at: str | None = None
    worker_id: str | None = None
    started_at: str | None = None
    last_heartbeat_at: str | None = None


class WorkerTaskPage(BaseModel):
    items: list[WorkerTaskOut]
    next_cursor: str | None = None


class ClaimOut(AcceptedResponse):
    """``accepted_event_id`` is the attempt's TaskStarted, whoever appended it."""

    claimed: bool = Field(description="true: this worker holds the attempt and must run it")
    holder_worker_id: str = Field(description="The worker whose claim won")
    run_id: str
    task_key: str
    attempt: int
    attempt_id: str


class HeartbeatOut(AcceptedResponse):
    stop: bool = Field(description="true: kill the attempt (see stop_reason)")
    stop_reason: str | None = None


class ResultOut(AcceptedResponse):
    late: bool = Field(
        description="true: this report did not decide the task: its attempt was superseded, "
        "or another outcome was recorded first (e.g. the engine's heartbeat timeout)"
    )
    recorded_outcome: TaskOutcome = Field(description="The attempt's outcome on record")


# --- routes ---------------------------------------------------------------------------


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
    where: dict[str, object] = {"state": state}
    if asset_key is not None:
        where["asset_key"] = asset_key
    query = ProjectionQuery(where=where, order_by="ready_at")
    ctx = service_context(request, scope)
    found = ctx.reader.page(TASKS, scope, query, cursor=page.cursor, limit=page.limit)
    return WorkerTaskPage(
        items=[WorkerTaskOut.model_validate(doc) for doc in found.items],
        next_cursor=found.next_cursor,
    )


@router.post(
    "/claims",
    status_code=202,
    response_model=ClaimOut,
    summary="Claim a dispatched attempt (TaskStarted): claimed true for exactly one worker",
)
def claim(
    body: ClaimRequest, request: Request, scope: WriteScope, key: IdempotencyKey = None
) -> JSONResponse:
    def handler() -> tuple[int, BaseModel]:
        return 202, _claim(service_context(request, scope), body)

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
    def handler() -> tuple[int, BaseModel]:
        return 202, _heartbeat(service_context(request, scope), body)

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
    def handler() -> tuple[int, BaseModel]:
        return 202, _result(service_context(request, scope), body)

    return idempotent(request, scope, key, body, handler)


# --- what each route does -----------------------------------------------------------------


def _claim(ctx: ServiceContext, body: ClaimRequest) -> ClaimOut:
    task = _task(ctx, body)
    if task.get("attempt_id") != body.attempt_id:
        raise _superseded(body, task)
    _check_attempt_number(task, body.attempt)
    if task.get("state") not in ACTIVE_TASK_STATES:
        raise ConflictError(
            f"task {body.task_key} is {task.get('state')}: nothing to claim",
            field="attempt_id",
            value=body.attempt_id,
            details=_task_details(task, "not_claimable"),
        )
    started = TaskStarted(
        run_id=body.run_id,
        task_key=body.task_key,
        attempt=body.attempt,
        attempt_id=body.attempt_id,
        worker_id=body.worker_id,
    )
    accepted, recorded = _append_once(ctx, started)
    holder = recorded.worker_id if isinstance(recorded, TaskStarted) else body.worker_id
    # Our own earlier claim (a retried request) still holds while the attempt is unfinished.
    claimed = holder == body.worker_id and (
        not accepted.duplicate or not _finished(ctx, body.attempt_id)
    )
    return ClaimOut(
        **_accepted(accepted, body.attempt_id),
        claimed=claimed,
        holder_worker_id=holder,
        run_id=body.run_id,
        task_key=body.task_key,
        attempt=body.attempt,
        attempt_id=body.attempt_id,
    )


def _heartbeat(ctx: ServiceContext, body: HeartbeatRequest) -> HeartbeatOut:
    task = _task(ctx, body)
    _check_attempt_number(_known_attempt(task, body), body.attempt)
    _check_lease(ctx, body.attempt_id, body.worker_id)
    beat = TaskHeartbeat(
        run_id=body.run_id,
        task_key=body.task_key,
        attempt_id=body.attempt_id,
        sequence=body.sequence,
    )
    accepted, _ = _append_once(ctx, beat)
    reason = _why_stop(ctx, task, body.attempt_id)
    return HeartbeatOut(
        **_accepted(accepted, body.attempt_id), stop=reason is not None, stop_reason=reason
    )


def _result(ctx: ServiceContext, body: ResultRequest) -> ResultOut:
    task = _task(ctx, body)
    _check_attempt_number(_known_attempt(task, body), body.attempt)
    for field in ("asset_key", "partition_key"):
        if getattr(body, field) != task.get(field):
            raise ValidationError(
                f"task {body.task_key} has {field} {task.get(field)!r}",
                field=field,
                value=getattr(body, field),
                allowed=[str(task.get(field))],
            )
    _check_lease(ctx, body.attempt_id, body.worker_id)
    finished = TaskFinished(
        run_id=body.run_id,
        task_key=body.task_key,
        attempt=body.attempt,
        attempt_id=body.attempt_id,
        outcome=body.outcome,
        asset_key=body.asset_key,
        partition_key=body.partition_key,
        code_version=body.code_version,
        metadata=body.metadata,
        error=body.error,
    )
    accepted, recorded = _append_once(ctx, finished)
    outcome = recorded.outcome if isinstance(recorded, TaskFinished) else body.outcome
    live = task.get("attempt_id") == body.attempt_id and task.get("state") in ACTIVE_TASK_STATES
    # A duplicate that is not this very report: another outcome was recorded first.
    late = recorded != finished if accepted.duplicate else not live
    return ResultOut(**_accepted(accepted, body.attempt_id), late=late, recorded_outcome=outcome)


# --- helpers ----------------------------------------------------------------------------


def _append_once(ctx: ServiceContext, data: Payload) -> tuple[Accepted, Payload | None]:
    """Append ``data``; for a duplicate, the event on record (its id, its payload)."""
    event = ctx.event(data)
    [outcome] = ctx.append([event])
    if not outcome.duplicate:
        return Accepted(event.event_id, outcome.offset, False, None), data
    scope = ctx.scope
    stored = ctx.ledger.find_by_key(scope.tenant_id, scope.workspace_id, data.idempotency_key())
    if stored is None or isinstance(stored.data, UnknownEvent):
        return Accepted(event.event_id, outcome.offset, True, None), None
    return Accepted(stored.event_id, stored.offset, True, None), stored.data


def _accepted(accepted: Accepted, attempt_id: str) -> dict[str, Any]:
    """The AcceptedResponse fields; ``id`` is the attempt, what these routes act on."""
    return {
        "accepted_event_id": accepted.event_id,
        "offset": accepted.offset,
        "duplicate": accepted.duplicate,
        "id": attempt_id,
    }


def _task(ctx: ServiceContext, ref: AttemptRef) -> Doc:
    task = ctx.reader.get(TASKS, ctx.scope, task_pk(ref.run_id, ref.task_key))
    if task is None:
        raise NotFoundError(
            f"no task {ref.task_key!r} in run {ref.run_id!r}",
            field="task_key",
            value=ref.task_key,
            details={"run_id": ref.run_id},
        )
    return task


def _known_attempt(task: Doc, ref: AttemptRef) -> Doc:
    """The task's history entry of ``ref.attempt_id`` (404 for an attempt it never had)."""
    attempts = task.get("attempts")
    for entry in attempts if isinstance(attempts, list) else []:
        if isinstance(entry, dict) and entry.get("attempt_id") == ref.attempt_id:
            return entry
    raise NotFoundError(
        f"task {ref.task_key!r} has no attempt {ref.attempt_id!r}",
        field="attempt_id",
        value=ref.attempt_id,
        details=_task_details(task, "unknown_attempt"),
    )


def _check_attempt_number(entry: Doc, attempt: int | None) -> None:
    if attempt is not None and entry.get("attempt") != attempt:
        raise ValidationError(
            f"attempt {entry.get('attempt_id')} is attempt number {entry.get('attempt')}",
            field="attempt",
            value=attempt,
            allowed=[str(entry.get("attempt"))],
        )


def _superseded(body: ClaimRequest, task: Doc) -> ConflictError:
    return ConflictError(
        f"attempt {body.attempt_id} is not the task's current attempt "
        f"({task.get('attempt_id')}); poll again",
        field="attempt_id",
        value=body.attempt_id,
        allowed=[str(task.get("attempt_id"))],
        details=_task_details(task, "attempt_superseded"),
    )


def _task_details(task: Doc, reason: str) -> dict[str, object]:
    return {
        "reason": reason,
        "run_id": task.get("run_id"),
        "task_key": task.get("task_key"),
        "current_state": task.get("state"),
        "current_attempt": task.get("attempt"),
        "current_attempt_id": task.get("attempt_id"),
    }


def _stored_claim(ctx: ServiceContext, attempt_id: str) -> tuple[str, str] | None:
    """(event id, worker id) of the TaskStarted that holds ``attempt_id``."""
    scope = ctx.scope
    stored = ctx.ledger.find_by_key(
        scope.tenant_id, scope.workspace_id, f"task_started:{attempt_id}"
    )
    if stored is None or not isinstance(stored.data, TaskStarted):
        return None
    return stored.event_id, stored.data.worker_id


def _finished(ctx: ServiceContext, attempt_id: str) -> bool:
    scope = ctx.scope
    key = f"task_finished:{attempt_id}"
    return ctx.ledger.find_by_key(scope.tenant_id, scope.workspace_id, key) is not None


def _check_lease(ctx: ServiceContext, attempt_id: str, worker_id: str | None) -> None:
    if worker_id is None:
        return
    stored = _stored_claim(ctx, attempt_id)
    holder = None if stored is None else stored[1]
    if holder != worker_id:
        raise ConflictError(
            f"worker {worker_id!r} does not hold attempt {attempt_id}"
            + ("" if holder is None else f" (worker {holder!r} does)"),
            field="worker_id",
            value=worker_id,
            allowed=[] if holder is None else [holder],
            details={"reason": "not_lease_holder", "holder_worker_id": holder},
        )


def _why_stop(ctx: ServiceContext, task: Doc, attempt_id: str) -> str | None:
    """Why a running attempt must be killed (what the in-process worker checks too)."""
    run = ctx.reader.get(RUNS, ctx.scope, str(task.get("run_id")))
    if run is not None and run.get("state") == "cancelling":
        return "run cancelled while the task was running"
    if task.get("attempt_id") != attempt_id:
        return f"attempt superseded by attempt {task.get('attempt')} ({task.get('attempt_id')})"
    if task.get("state") not in ACTIVE_TASK_STATES:
        return f"the engine ended this attempt (task is {task.get('state')})"
    return None
