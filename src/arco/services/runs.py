"""Run services: list, read, cancel, and request a manual run; list a run's tasks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import get_args

from arco.errors import IllegalTransitionError, NotFoundError, ValidationError
from arco.events import (
    KeysSelector,
    ManualSource,
    PartitionSelector,
    RunCancelRequested,
    RunRequested,
)
from arco.fold.context import iso
from arco.fold.execution_state import TASK_STATES, TERMINAL_RUN_STATES, RunState, task_pk
from arco.fold.rows import Doc
from arco.fold.tables import RUNS, TASKS
from arco.ids import new_ulid, request_fingerprint, run_id_from_run_key
from arco.services import Accepted, ServiceContext
from arco.storage.reader import Page, Query

RUN_STATES: tuple[str, ...] = get_args(RunState)
MANUAL_RUN_KEY_PREFIX = "manual:"


def list_runs(
    ctx: ServiceContext,
    *,
    state: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Page:
    """Runs newest first, optionally in one state and requested within [since, until]."""
    where: dict[str, object] = {}
    if state is not None:
        _check_choice("state", state, RUN_STATES)
        where["state"] = state
    window = (None if since is None else iso(since), None if until is None else iso(until))
    query = Query(
        where=where,
        ranges={"requested_at": window} if window != (None, None) else {},
        order_by="requested_at",
        descending=True,
    )
    return ctx.reader.page(RUNS, ctx.scope, query, cursor=cursor, limit=limit)


def get_run(ctx: ServiceContext, run_id: str) -> Doc:
    run = ctx.reader.get(RUNS, ctx.scope, run_id)
    if run is None:
        raise NotFoundError(f"no run {run_id!r}", field="run_id", value=run_id)
    return run


def list_tasks(
    ctx: ServiceContext,
    run_id: str,
    *,
    state: str | None = None,
    cursor: str | None = None,
    limit: int = 100,
) -> Page:
    """A run's tasks in plan order (upstream first)."""
    get_run(ctx, run_id)
    where: dict[str, object] = {"run_id": run_id}
    if state is not None:
        _check_choice("state", state, TASK_STATES)
        where["state"] = state
    query = Query(where=where, order_by="task_index")
    return ctx.reader.page(TASKS, ctx.scope, query, cursor=cursor, limit=limit)


def get_task(ctx: ServiceContext, run_id: str, task_key: str) -> Doc:
    task = ctx.reader.get(TASKS, ctx.scope, task_pk(run_id, task_key))
    if task is None:
        raise NotFoundError(
            f"run {run_id!r} has no task {task_key!r}",
            field="task_key",
            value=task_key,
            details={"run_id": run_id},
        )
    return task


def cancel_run(ctx: ServiceContext, run_id: str, *, reason: str | None = None) -> Accepted:
    """Ask to cancel a run: idle tasks stop at once, running ones are signalled."""
    run = get_run(ctx, run_id)
    if run["state"] in TERMINAL_RUN_STATES:
        raise IllegalTransitionError(
            f"run {run_id!r} is already {run['state']}",
            field="state",
            value=str(run["state"]),
            allowed=["queued", "running"],
            details={"run_id": run_id, "current_state": run["state"]},
        )
    cancel = RunCancelRequested(run_id=run_id, requested_by=ctx.actor, reason=reason)
    return ctx.accept([ctx.event(cancel)], resource_id=run_id)


def request_manual_run(
    ctx: ServiceContext,
    asset_selection: Sequence[str],
    partition_keys: Sequence[str] | None = None,
    tags: Mapping[str, str] | None = None,
    request_id: str | None = None,
    *,
    partition_selection: PartitionSelector | None = None,
) -> Accepted:
    """RunRequested for ``manual:{request_id}``; the same request again is the same run."""
    assets = tuple(dict.fromkeys(asset_selection))
    if not assets or any(not a for a in assets):
        raise ValidationError(
            "a run needs at least one asset", field="asset_selection", value=list(assets)
        )
    if partition_keys is not None and partition_selection is not None:
        raise ValidationError(
            "give partition_keys or partition_selection, not both", field="partition_keys"
        )
    if partition_keys is not None:
        if not partition_keys:
            raise ValidationError("partition_keys is empty", field="partition_keys")
        partition_selection = KeysSelector(keys=tuple(dict.fromkeys(partition_keys)))
    request_id = request_id or new_ulid()
    run_key = MANUAL_RUN_KEY_PREFIX + request_id
    selection_json = (
        None if partition_selection is None else partition_selection.model_dump(mode="json")
    )
    run_tags = dict(tags or {})
    request = RunRequested(
        run_key=run_key,
        run_id=run_id_from_run_key(
            ctx.scope.tenant_id, ctx.scope.workspace_id, run_key, ctx.secret
        ),
        request_fingerprint=request_fingerprint(list(assets), selection_json, run_tags),
        asset_selection=assets,
        partition_selection=partition_selection,
        tags=run_tags,
        source=ManualSource(user=ctx.actor, request_id=request_id),
    )
    return ctx.accept([ctx.event(request)], resource_id=request.run_id)


def _check_choice(field: str, value: str, allowed: Sequence[str]) -> None:
    if value not in allowed:
        raise ValidationError(
            f"{field} must be one of {list(allowed)}", field=field, value=value, allowed=allowed
        )
