"""Anti-entropy: an attempt dispatched but never started is dispatched again as a new attempt.

A worker may die between reading a dispatched task and appending TaskStarted,
or no worker may be listening.  After ``timeout`` the task gets a new attempt
(new number, new attempt id); the fold marks the old one ``abandoned`` and
ignores whatever it reports later.  Abandoned attempts do not spend the retry
budget, but after ``max_redispatches`` of them the controller reports the
attempt failed (error kind ``dispatch_timeout``), so a task with no worker to
run it ends (via its retry policy) instead of cycling for ever.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from arco.controllers.dispatch import dispatch_decision
from arco.controllers.execution_views import RunView, TaskView, event
from arco.controllers.timers import lost_attempt
from arco.events import OrchestrationEvent
from arco.events.execution import TaskError
from arco.fold.rows import Scope


def dispatch_deadline(task: TaskView, timeout: timedelta) -> datetime | None:
    return None if task.dispatched_at is None else task.dispatched_at + timeout


def reconcile(
    scope: Scope,
    dispatched: Sequence[TaskView],
    runs: Mapping[str, RunView],
    now: datetime,
    *,
    timeout: timedelta,
    max_redispatches: int,
) -> list[list[OrchestrationEvent]]:
    decisions = []
    for task in dispatched:
        deadline = dispatch_deadline(task, timeout)
        run = runs.get(task.run_id)
        if task.state != "dispatched" or deadline is None or deadline > now:
            continue
        if run is None or run.state != "running":
            continue
        if task.abandoned < max_redispatches:
            decisions.append(dispatch_decision(scope, task, now))
            continue
        error = TaskError(
            kind="dispatch_timeout",
            message=f"no worker started the task after {task.abandoned + 1} dispatches",
        )
        decisions.append([event(scope, lost_attempt(task, error), now)])
    return decisions
