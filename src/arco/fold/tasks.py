"""Task facts → the task state machine, its attempt history and what follows from it.

pending → ready (every upstream task succeeded) → dispatched (DispatchRequested:
a new attempt number and attempt_id) → running (TaskStarted or a heartbeat of
that attempt) → succeeded | failed | retry_wait (failed with retries left; the
timers controller schedules the retry) | cancelled.  Downstream of a task that
failed for good is ``skipped`` with a reason naming that task.

Workers deliver at least once and out of order, so every handler checks state
before changing it: a fact whose attempt_id is not the task's current attempt
only annotates that attempt's history, and a late or repeated fact of the
current attempt cannot move the task backwards.
"""

from __future__ import annotations

from collections.abc import Iterator

from arco.events.execution import (
    DispatchRequested,
    RetryPolicy,
    TaskFinished,
    TaskHeartbeat,
    TaskStarted,
)
from arco.fold import partitions
from arco.fold.context import FoldContext
from arco.fold.execution_state import (
    ACTIVE_TASK_STATES,
    RunWork,
    as_docs,
    as_int,
    as_str,
    as_strs,
    task_pk,
)
from arco.fold.rows import Doc
from arco.fold.tables import PARTITION_STATUS, RUNS, TASKS, ProjectionTable

DISPATCHABLE = frozenset({"ready", "retry_wait", "dispatched"})


def on_dispatch_requested(ctx: FoldContext, data: DispatchRequested) -> None:
    work = RunWork(ctx, data.run_id)
    task = work.task(data.task_key)
    if task is None:
        return
    # Remember every attempt number ever requested, accepted or not: its
    # idempotency key is spent, so the next dispatch must use a higher one.
    if data.attempt > as_int(task, "last_dispatch_attempt"):
        task["last_dispatch_attempt"] = data.attempt
        work.touch(task)
    if (
        work.state == "running"
        and task["state"] in DISPATCHABLE
        and data.attempt > as_int(task, "attempt")
    ):
        _start_attempt(ctx, work, task, data)
    work.save()


def _start_attempt(ctx: FoldContext, work: RunWork, task: Doc, data: DispatchRequested) -> None:
    previous = as_str(task, "attempt_id")
    if task["state"] == "dispatched" and previous is not None:
        # Anti-entropy: the previous attempt never started; it is abandoned.
        _close_attempt(task, previous, ctx.at, "abandoned", None)
        task["abandoned"] = as_int(task, "abandoned") + 1
        partitions.release(ctx, task, previous)
    task.update(
        attempt=data.attempt,
        attempt_id=data.attempt_id,
        dispatched_at=ctx.at,
        started_at=None,
        worker_id=None,
        last_heartbeat_at=None,
        heartbeat_sequence=None,
        finished_at=None,
        retry_timer_id=None,
        retry_at=None,
    )
    attempts = as_docs(task, "attempts")
    attempts.append(
        {
            "attempt": data.attempt,
            "attempt_id": data.attempt_id,
            "dispatched_at": ctx.at,
            "worker_id": None,
            "started_at": None,
            "finished_at": None,
            "outcome": None,
            "error": None,
        }
    )
    task["attempts"] = attempts
    work.move(task, "dispatched")
    partitions.claim(ctx, task, data.attempt_id)


def on_task_started(ctx: FoldContext, data: TaskStarted) -> None:
    work = RunWork(ctx, data.run_id)
    task = work.task(data.task_key)
    if task is None:
        return
    entry = _attempt_entry(task, data.attempt_id)
    if entry is not None and entry["started_at"] is None:
        entry.update(started_at=ctx.at, worker_id=data.worker_id)
        work.touch(task)
    if data.attempt_id == task["attempt_id"]:
        if task["state"] == "dispatched":
            task.update(started_at=ctx.at, last_heartbeat_at=ctx.at)
            work.move(task, "running")
        if task["state"] == "running" and task["worker_id"] is None:
            task["worker_id"] = data.worker_id
            work.touch(task)
    work.save()


def on_task_heartbeat(ctx: FoldContext, data: TaskHeartbeat) -> None:
    work = RunWork(ctx, data.run_id)
    task = work.task(data.task_key)
    if task is None or data.attempt_id != task["attempt_id"]:
        return
    if task["state"] == "dispatched":
        # The heartbeat overtook TaskStarted: the attempt is evidently running.
        task["started_at"] = ctx.at
        work.move(task, "running")
    sequence = task["heartbeat_sequence"]
    newer = not isinstance(sequence, int) or data.sequence > sequence
    if task["state"] == "running" and newer:
        task["heartbeat_sequence"] = data.sequence
        last = as_str(task, "last_heartbeat_at")
        task["last_heartbeat_at"] = ctx.at if last is None else max(last, ctx.at)
        work.touch(task)
    work.save()


def on_task_finished(ctx: FoldContext, data: TaskFinished) -> None:
    work = RunWork(ctx, data.run_id)
    task = work.task(data.task_key)
    if task is None:
        ctx.warn(f"TaskFinished for unknown task {data.run_id}:{data.task_key}")
        return
    error = None if data.error is None else data.error.model_dump(mode="json")
    if data.attempt_id != task["attempt_id"] or task["state"] not in ACTIVE_TASK_STATES:
        _note_late_outcome(work, task, data, error)
        work.save()
        return
    _close_attempt(task, data.attempt_id, ctx.at, data.outcome, error)
    task["finished_at"] = ctx.at
    partitions.record_finished(ctx, task, data)
    if data.outcome == "succeeded":
        task["error"] = None
        work.move(task, "succeeded")
        _promote_dependents(ctx, work, task)
    elif data.outcome == "failed":
        task["error"] = error
        task["failures"] = as_int(task, "failures") + 1
        if work.state == "running" and _retries_left(task):
            work.move(task, "retry_wait")
        else:
            work.move(task, "failed")
            _skip_dependents(work, task, "upstream_failed")
    else:
        task["error"] = error
        work.move(task, "cancelled")
        _skip_dependents(work, task, "upstream_cancelled")
    work.save()


def _retries_left(task: Doc) -> bool:
    policy = RetryPolicy.model_validate(task.get("retry_policy") or {})
    return as_int(task, "failures") <= policy.max_retries


def _promote_dependents(ctx: FoldContext, work: RunWork, task: Doc) -> None:
    """A success unblocks dependents; one with nothing left to wait for becomes ready."""
    key = task["task_key"]
    for dependent_key in as_strs(task, "dependents"):
        dependent = work.task(dependent_key)
        if dependent is None:
            continue
        waiting = as_strs(dependent, "waiting_on")
        if key in waiting:
            dependent["waiting_on"] = [k for k in waiting if k != key]
            work.touch(dependent)
        if dependent["state"] == "pending" and not dependent["waiting_on"]:
            dependent["ready_at"] = ctx.at
            work.move(dependent, "ready")


def _skip_dependents(work: RunWork, root: Doc, reason: str) -> None:
    """Every pending task downstream of ``root`` is skipped, naming ``root`` as the cause."""
    root_key = str(root["task_key"])
    verb = "failed" if reason == "upstream_failed" else "was cancelled"
    queue = list(as_strs(root, "dependents"))
    while queue:
        dependent = work.task(queue.pop(0))
        if dependent is None or dependent["state"] != "pending":
            continue
        dependent.update(
            skip_reason=reason,
            skipped_because=root_key,
            error={"kind": reason, "message": f"upstream task {root_key!r} {verb}"},
            finished_at=work.ctx.at,
        )
        work.move(dependent, "skipped")
        queue.extend(as_strs(dependent, "dependents"))


def cancel_task(work: RunWork, task: Doc, reason: str) -> None:
    """Cancel a task nobody is running yet (the run is being cancelled)."""
    attempt_id = as_str(task, "attempt_id")
    if task["state"] == "dispatched" and attempt_id is not None:
        _close_attempt(task, attempt_id, work.ctx.at, "cancelled", None)
        partitions.release(work.ctx, task, attempt_id)
    task.update(finished_at=work.ctx.at, cancel_reason=reason)
    work.move(task, "cancelled")


def _attempt_entry(task: Doc, attempt_id: str) -> Doc | None:
    for entry in as_docs(task, "attempts"):
        if entry.get("attempt_id") == attempt_id:
            return entry
    return None


def _close_attempt(task: Doc, attempt_id: str, at: str, outcome: str, error: object | None) -> None:
    entry = _attempt_entry(task, attempt_id)
    if entry is not None and entry["outcome"] is None:
        entry.update(finished_at=at, outcome=outcome, error=error)


def _note_late_outcome(work: RunWork, task: Doc, data: TaskFinished, error: object) -> None:
    """A report for an attempt that is no longer current: history only, never state."""
    entry = _attempt_entry(task, data.attempt_id)
    if entry is None or entry.get("late_outcome") is not None:
        return
    if entry["outcome"] == data.outcome:
        return
    entry.update(late_outcome=data.outcome, late_finished_at=work.ctx.at, late_error=error)
    work.touch(task)


def _task_rows(run_id: str, task_key: str) -> Iterator[tuple[ProjectionTable, str]]:
    yield RUNS, run_id
    yield TASKS, task_pk(run_id, task_key)


def rows_for_finished(data: TaskFinished) -> Iterator[tuple[ProjectionTable, str]]:
    yield from _task_rows(data.run_id, data.task_key)
    yield PARTITION_STATUS, partitions.status_pk(data.asset_key, data.partition_key)


def rows_for_task_fact(
    data: DispatchRequested | TaskStarted | TaskHeartbeat,
) -> Iterator[tuple[ProjectionTable, str]]:
    return _task_rows(data.run_id, data.task_key)
