"""The worker contract: what a remote worker does instead of touching the database.

List the attempts waiting for a worker, claim one (TaskStarted: exactly one claim per
attempt wins, see :mod:`arco.services.leases`), heartbeat it (the answer says whether to
stop) and report how it ended (TaskFinished).  Each report is checked against the task it
names: a task outside the caller's scope is a NotFoundError, an attempt it never had too.
``worker_id`` on a heartbeat or a result checks the lease (ConflictError, reason
``not_lease_holder``).  Every answer's ``Accepted.resource_id`` is the attempt id.
"""

from __future__ import annotations

from dataclasses import dataclass

from arco.errors import ConflictError, NotFoundError, ValidationError
from arco.events import Payload, TaskFinished, TaskHeartbeat, TaskStarted, UnknownEvent
from arco.events.execution import TaskOutcome
from arco.fold.execution_state import ACTIVE_TASK_STATES, task_pk
from arco.fold.rows import Doc
from arco.fold.tables import RUNS, TASKS
from arco.services import Accepted, ServiceContext
from arco.services.leases import find_lease, read_claim, stop_reason
from arco.storage.reader import Page, Query

WORKER_TASK_STATES = ("dispatched", "running")


@dataclass(frozen=True)
class ClaimAnswer:
    """``accepted`` is the attempt's TaskStarted, whoever appended it."""

    accepted: Accepted
    claimed: bool  # this worker holds the attempt and must run it
    holder_worker_id: str


@dataclass(frozen=True)
class HeartbeatAnswer:
    accepted: Accepted
    stop_reason: str | None  # set: kill the attempt

    @property
    def stop(self) -> bool:
        return self.stop_reason is not None


@dataclass(frozen=True)
class ResultAnswer:
    accepted: Accepted
    late: bool  # the report did not decide the task (superseded, or another outcome first)
    recorded_outcome: TaskOutcome


def list_worker_tasks(
    ctx: ServiceContext,
    *,
    state: str = "dispatched",
    asset_key: str | None = None,
    cursor: str | None = None,
    limit: int = 100,
) -> Page:
    """Attempts waiting for a worker (``dispatched``) or being run, oldest ready first."""
    if state not in WORKER_TASK_STATES:
        raise ValidationError(
            f"state must be one of {list(WORKER_TASK_STATES)}",
            field="state",
            value=state,
            allowed=list(WORKER_TASK_STATES),
        )
    where: dict[str, object] = {"state": state}
    if asset_key is not None:
        where["asset_key"] = asset_key
    query = Query(where=where, order_by="ready_at")
    return ctx.reader.page(TASKS, ctx.scope, query, cursor=cursor, limit=limit)


def claim_attempt(ctx: ServiceContext, started: TaskStarted) -> ClaimAnswer:
    """Append ``started`` for the task's current, unfinished attempt; say who holds it.

    Repeating one's own claim (a timeout, a retry) answers ``claimed`` again while the
    attempt is unfinished.
    """
    task = _task(ctx, started.run_id, started.task_key)
    if task.get("attempt_id") != started.attempt_id:
        raise _superseded(started.attempt_id, task)
    _check_attempt_number(task, started.attempt)
    if task.get("state") not in ACTIVE_TASK_STATES:
        raise ConflictError(
            f"task {started.task_key} is {task.get('state')}: nothing to claim",
            field="attempt_id",
            value=started.attempt_id,
            details=_task_details(task, "not_claimable"),
        )
    event = ctx.event(started)
    [outcome] = ctx.append([event])
    claim = read_claim(ctx.ledger, ctx.scope, started, outcome)
    lease = claim.lease
    accepted = (
        Accepted(event.event_id, outcome.offset, outcome.duplicate, started.attempt_id)
        if lease is None
        else Accepted(lease.event_id, lease.offset, True, started.attempt_id)
    )
    return ClaimAnswer(accepted, claim.won, claim.holder_worker_id)


def record_heartbeat(
    ctx: ServiceContext,
    beat: TaskHeartbeat,
    *,
    attempt: int | None = None,
    worker_id: str | None = None,
) -> HeartbeatAnswer:
    """Append ``beat``; the answer says whether the attempt must stop, and why."""
    task = _task(ctx, beat.run_id, beat.task_key)
    _check_attempt_number(_known_attempt(task, beat.task_key, beat.attempt_id), attempt)
    _check_lease(ctx, beat.attempt_id, worker_id)
    accepted, _ = _append_once(ctx, beat, beat.attempt_id)
    run = ctx.reader.get(RUNS, ctx.scope, str(task.get("run_id")))
    return HeartbeatAnswer(accepted, stop_reason(run, task, beat.attempt_id))


def report_result(
    ctx: ServiceContext, finished: TaskFinished, *, worker_id: str | None = None
) -> ResultAnswer:
    """Append ``finished`` (at least once: a repeat is a duplicate); say whether it was late.

    Late: the attempt had been superseded, or another outcome (the engine's heartbeat
    timeout) was recorded first.
    """
    task = _task(ctx, finished.run_id, finished.task_key)
    entry = _known_attempt(task, finished.task_key, finished.attempt_id)
    _check_attempt_number(entry, finished.attempt)
    for field in ("asset_key", "partition_key"):
        if getattr(finished, field) != task.get(field):
            raise ValidationError(
                f"task {finished.task_key} has {field} {task.get(field)!r}",
                field=field,
                value=getattr(finished, field),
                allowed=[str(task.get(field))],
            )
    _check_lease(ctx, finished.attempt_id, worker_id)
    accepted, recorded = _append_once(ctx, finished, finished.attempt_id)
    outcome = recorded.outcome if isinstance(recorded, TaskFinished) else finished.outcome
    live = task.get("attempt_id") == finished.attempt_id and task.get("state") in ACTIVE_TASK_STATES
    # A duplicate that is not this very report: another outcome was recorded first.
    late = recorded != finished if accepted.duplicate else not live
    return ResultAnswer(accepted, late, outcome)


# --- helpers ----------------------------------------------------------------------------


def _append_once(
    ctx: ServiceContext, data: Payload, attempt_id: str
) -> tuple[Accepted, Payload | None]:
    """Append ``data``; for a duplicate, the event on record (its id, its payload)."""
    event = ctx.event(data)
    [outcome] = ctx.append([event])
    if not outcome.duplicate:
        return Accepted(event.event_id, outcome.offset, False, attempt_id), data
    scope = ctx.scope
    stored = ctx.ledger.find_by_key(scope.tenant_id, scope.workspace_id, data.idempotency_key())
    if stored is None or isinstance(stored.data, UnknownEvent):
        return Accepted(event.event_id, outcome.offset, True, attempt_id), None
    return Accepted(stored.event_id, stored.offset, True, attempt_id), stored.data


def _task(ctx: ServiceContext, run_id: str, task_key: str) -> Doc:
    task = ctx.reader.get(TASKS, ctx.scope, task_pk(run_id, task_key))
    if task is None:
        raise NotFoundError(
            f"no task {task_key!r} in run {run_id!r}",
            field="task_key",
            value=task_key,
            details={"run_id": run_id},
        )
    return task


def _known_attempt(task: Doc, task_key: str, attempt_id: str) -> Doc:
    """The task's history entry of ``attempt_id`` (NotFound for an attempt it never had)."""
    attempts = task.get("attempts")
    for entry in attempts if isinstance(attempts, list) else []:
        if isinstance(entry, dict) and entry.get("attempt_id") == attempt_id:
            return entry
    raise NotFoundError(
        f"task {task_key!r} has no attempt {attempt_id!r}",
        field="attempt_id",
        value=attempt_id,
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


def _superseded(attempt_id: str, task: Doc) -> ConflictError:
    return ConflictError(
        f"attempt {attempt_id} is not the task's current attempt "
        f"({task.get('attempt_id')}); poll again",
        field="attempt_id",
        value=attempt_id,
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


def _check_lease(ctx: ServiceContext, attempt_id: str, worker_id: str | None) -> None:
    if worker_id is None:
        return
    lease = find_lease(ctx.ledger, ctx.scope, attempt_id)
    holder = None if lease is None else lease.worker_id
    if holder != worker_id:
        raise ConflictError(
            f"worker {worker_id!r} does not hold attempt {attempt_id}"
            + ("" if holder is None else f" (worker {holder!r} does)"),
            field="worker_id",
            value=worker_id,
            allowed=[] if holder is None else [holder],
            details={"reason": "not_lease_holder", "holder_worker_id": holder},
        )
