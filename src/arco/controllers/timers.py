"""Timers: retry backoff and heartbeat timeouts.

* A task in ``retry_wait`` without a timer gets ``TimerRequested(purpose=retry)``
  firing at its failure time plus the policy's backoff; once due, the dispatch
  controller emits TimerFired + DispatchRequested together (see ``due_retries``).
* A running attempt that has sent no heartbeat (nor started) for
  ``heartbeat_timeout`` is declared dead: the controller appends the attempt's
  TaskFinished (failed, error kind ``heartbeat_timeout``) itself.  It shares the
  worker's idempotency key (``task_finished:{attempt_id}``), so whichever report
  reaches the ledger first is the only one; the task then retries per policy.
* A requested timer nobody waits for any more (its task was cancelled) is fired
  when due, so no timer stays ``requested`` for ever.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from arco.controllers.execution_views import TaskView, TimerView, event
from arco.events import OrchestrationEvent
from arco.events.execution import (
    RetryPolicy,
    TaskError,
    TaskFinished,
    TimerFired,
    TimerRequested,
)
from arco.fold.rows import Scope

MAX_RETRY_DELAY = timedelta(days=1)


def retry_timer_id(task: TaskView) -> str:
    return f"retry:{task.run_id}:{task.task_key}:{task.attempt}"


def retry_delay(policy: RetryPolicy, failures: int, seed: str) -> timedelta:
    """Constant or doubling delay; jitter scales it by a factor in [0.5, 1.5) hashed from seed."""
    seconds = policy.delay_seconds
    if policy.backoff == "exponential":
        seconds *= 2 ** max(0, failures - 1)
    if policy.jitter:
        fraction = int.from_bytes(hashlib.sha256(seed.encode()).digest()[:8], "big") / 2**64
        seconds *= 0.5 + fraction
    return min(timedelta(seconds=seconds), MAX_RETRY_DELAY)


def retry_fire_at(task: TaskView) -> datetime:
    assert task.finished_at is not None
    seed = task.attempt_id or retry_timer_id(task)
    return task.finished_at + retry_delay(task.retry_policy, task.failures, seed)


def request_retry_timers(
    scope: Scope, waiting: Sequence[TaskView], now: datetime
) -> list[list[OrchestrationEvent]]:
    """One TimerRequested per ``retry_wait`` task that has none yet."""
    decisions = []
    for task in waiting:
        if task.state != "retry_wait" or task.retry_timer_id is not None:
            continue
        timer = TimerRequested(
            timer_id=retry_timer_id(task),
            fire_at_epoch_ms=int(retry_fire_at(task).timestamp() * 1000),
            purpose="retry",
            run_id=task.run_id,
            task_key=task.task_key,
            attempt=task.attempt,
        )
        decisions.append([event(scope, timer, now)])
    return decisions


def due_retries(waiting: Iterable[TaskView], now: datetime) -> list[TaskView]:
    """Tasks whose retry timer is due, oldest first."""
    due = [
        task
        for task in waiting
        if task.state == "retry_wait"
        and task.retry_timer_id is not None
        and task.retry_at is not None
        and task.retry_at <= now
    ]
    return sorted(due, key=lambda t: (t.retry_at or now, t.run_id, t.task_index))


def fire_orphan_timers(
    scope: Scope, timers: Iterable[TimerView], awaited: set[str], now: datetime
) -> list[list[OrchestrationEvent]]:
    """TimerFired for due timers no task waits for (``awaited`` holds those that are)."""
    return [
        [event(scope, TimerFired(timer_id=timer.timer_id, run_id=timer.run_id), now)]
        for timer in timers
        if timer.state == "requested" and timer.fire_at <= now and timer.timer_id not in awaited
    ]


def heartbeat_deadline(task: TaskView, timeout: timedelta) -> datetime | None:
    last = task.last_heartbeat_at or task.started_at
    return None if last is None else last + timeout


def heartbeat_timeouts(
    scope: Scope, running: Sequence[TaskView], now: datetime, timeout: timedelta
) -> list[list[OrchestrationEvent]]:
    """A failed TaskFinished for every running attempt silent for ``timeout``."""
    decisions = []
    for task in running:
        deadline = heartbeat_deadline(task, timeout)
        if task.state != "running" or task.attempt_id is None or deadline is None:
            continue
        if deadline > now:
            continue
        silent = int((now - (deadline - timeout)).total_seconds())
        error = TaskError(
            kind="heartbeat_timeout",
            message=f"worker {task.worker_id or '?'} sent no heartbeat for {silent}s",
        )
        decisions.append([event(scope, lost_attempt(task, error), now)])
    return decisions


def lost_attempt(task: TaskView, error: TaskError) -> TaskFinished:
    """The TaskFinished a controller reports for an attempt its worker cannot."""
    assert task.attempt_id is not None
    return TaskFinished(
        run_id=task.run_id,
        task_key=task.task_key,
        attempt=max(task.attempt, 1),
        attempt_id=task.attempt_id,
        outcome="failed",
        asset_key=task.asset_key,
        partition_key=task.partition_key,
        code_version=task.code_version,
        error=error,
    )
