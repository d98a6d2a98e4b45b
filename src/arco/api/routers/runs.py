"""Runs: list, read, request manually, cancel; a run's tasks and their compute logs."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from arco.api.errors import ERROR_RESPONSES
from arco.api.models import AcceptedResponse
from arco.api.mutations import IdempotencyKey, mutate
from arco.api.params import Paging, ReadScope, Window, WriteScope
from arco.api.schemas.numbers import INT64_MAX
from arco.api.schemas.runs import (
    CancelRequest,
    ComputeLogOut,
    LogStreamOut,
    ManualRunRequest,
    RunOut,
    RunPage,
    TaskPage,
)
from arco.api.state import api_state, service_context
from arco.errors import NotFoundError
from arco.runtime.compute_logs import DEFAULT_MAX_BYTES, attempts_logged, read_compute_log
from arco.services import runs as service

router = APIRouter(prefix="/runs", tags=["runs"], responses=ERROR_RESPONSES)


@router.get("", summary="List runs, newest first")
def list_runs(
    request: Request,
    scope: ReadScope,
    page: Paging,
    window: Window,
    state: Annotated[str | None, Query(description="queued, running, succeeded, …")] = None,
) -> RunPage:
    result = service.list_runs(
        service_context(request, scope),
        state=state,
        since=window.since,
        until=window.until,
        cursor=page.cursor,
        limit=page.limit,
    )
    return RunPage.of(result)


@router.post(
    "", status_code=202, response_model=AcceptedResponse, summary="Request a run of assets"
)
def request_run(
    body: ManualRunRequest, request: Request, scope: WriteScope, key: IdempotencyKey = None
) -> JSONResponse:
    request_id = body.client_request_id or key
    return mutate(
        request,
        scope,
        key or body.client_request_id,
        body,
        lambda ctx: service.request_manual_run(
            ctx, body.asset_selection, body.partition_keys, body.tags, request_id
        ),
    )


@router.get("/{run_id}", summary="One run")
def get_run(run_id: str, request: Request, scope: ReadScope) -> RunOut:
    return RunOut.model_validate(service.get_run(service_context(request, scope), run_id))


@router.post(
    "/{run_id}/cancel", status_code=202, response_model=AcceptedResponse, summary="Cancel a run"
)
def cancel_run(
    run_id: str,
    request: Request,
    scope: WriteScope,
    body: CancelRequest | None = None,
    key: IdempotencyKey = None,
) -> JSONResponse:
    reason = body.reason if body else None
    return mutate(
        request, scope, key, body, lambda ctx: service.cancel_run(ctx, run_id, reason=reason)
    )


@router.get("/{run_id}/tasks", summary="A run's tasks in plan order")
def list_tasks(
    run_id: str,
    request: Request,
    scope: ReadScope,
    page: Paging,
    state: Annotated[str | None, Query(description="pending, ready, running, …")] = None,
) -> TaskPage:
    result = service.list_tasks(
        service_context(request, scope), run_id, state=state, cursor=page.cursor, limit=page.limit
    )
    return TaskPage.of(result)


@router.get("/{run_id}/logs", summary="A task attempt's compute log (stdout and stderr)")
def get_compute_log(
    run_id: str,
    request: Request,
    scope: ReadScope,
    task_key: Annotated[str, Query(min_length=1, description="The task (see /runs/{id}/tasks)")],
    attempt: Annotated[
        int | None, Query(ge=1, le=INT64_MAX, description="Default: the latest attempt with a log")
    ] = None,
    stdout_offset: Annotated[
        int, Query(ge=0, le=INT64_MAX, description="Read stdout from this byte")
    ] = 0,
    stderr_offset: Annotated[
        int, Query(ge=0, le=INT64_MAX, description="Read stderr from this byte")
    ] = 0,
    max_bytes: Annotated[
        int, Query(ge=1, le=DEFAULT_MAX_BYTES, description="Per stream")
    ] = DEFAULT_MAX_BYTES,
) -> ComputeLogOut:
    # The run first: log directories are not per tenant, the run is (404 for anyone else's).
    service.get_run(service_context(request, scope), run_id)
    logs_dir = api_state(request).compute_logs_dir
    if logs_dir is None:
        raise NotFoundError(
            "this server has no compute log directory configured, so it serves no logs; "
            "read them on the worker's machine under {data_dir}/compute_logs",
            details={"run_id": run_id, "task_key": task_key, "reason": "no_compute_logs_dir"},
        )
    attempts = attempts_logged(logs_dir, run_id, task_key)
    chosen = attempt if attempt is not None else (attempts[-1] if attempts else 1)

    def stream(name: Literal["stdout", "stderr"], offset: int) -> LogStreamOut:
        chunk = read_compute_log(
            logs_dir, run_id, task_key, chosen, name, offset=offset, max_bytes=max_bytes
        )
        return LogStreamOut(
            text=chunk.text, offset=chunk.offset, next_offset=chunk.next_offset, size=chunk.size
        )

    return ComputeLogOut(
        run_id=run_id,
        task_key=task_key,
        attempt=chosen,
        attempts=attempts,
        stdout=stream("stdout", stdout_offset),
        stderr=stream("stderr", stderr_offset),
    )
