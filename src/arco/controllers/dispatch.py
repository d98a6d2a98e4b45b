"""Dispatch: ready tasks (and retries that are due) → DispatchRequested, within concurrency limits.

Each decision is one batch: a DispatchRequested with the next unused attempt
number and a fresh attempt id, preceded by the retry's TimerFired when the
task was waiting for one.  Two limits apply: ``capacity`` (free slots of the
global limit, counted by the caller over everything it runs) and a per-run
limit (``max_tasks_per_run``, lowered per run by the ``arco/max_concurrent_tasks``
tag).  Only runs in state ``running`` dispatch; a cancelling run never does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from arco.controllers.execution_views import RunView, TaskView, attempt_id_for, event
from arco.events import OrchestrationEvent
from arco.events.execution import DispatchRequested, TimerFired
from arco.fold.rows import Scope


@dataclass(frozen=True)
class DispatchLimits:
    max_concurrent_tasks: int = 64
    max_tasks_per_run: int = 16


@dataclass(frozen=True)
class Candidate:
    """A task that may be dispatched now; ``timer_id`` names the due retry timer, if any."""

    task: TaskView
    timer_id: str | None = None


def dispatch_decision(
    scope: Scope, task: TaskView, now: datetime, timer_id: str | None = None
) -> list[OrchestrationEvent]:
    attempt = task.next_attempt
    batch = []
    if timer_id is not None:
        batch.append(event(scope, TimerFired(timer_id=timer_id, run_id=task.run_id), now))
    request = DispatchRequested(
        run_id=task.run_id,
        task_key=task.task_key,
        attempt=attempt,
        attempt_id=attempt_id_for(scope, task, attempt, now),
    )
    batch.append(event(scope, request, now))
    return batch


def reconcile(
    scope: Scope,
    candidates: Sequence[Candidate],
    runs: Mapping[str, RunView],
    capacity: int,
    now: datetime,
    limits: DispatchLimits = DispatchLimits(),
) -> list[list[OrchestrationEvent]]:
    """Dispatch ``candidates`` in the order given until a limit stops them."""
    decisions: list[list[OrchestrationEvent]] = []
    active = {run_id: run.active_tasks for run_id, run in runs.items()}
    for candidate in candidates:
        if len(decisions) >= capacity:
            break
        run = runs.get(candidate.task.run_id)
        if run is None or run.state != "running":
            continue
        limit = min(limits.max_tasks_per_run, run.max_concurrent_tasks or limits.max_tasks_per_run)
        if active[run.run_id] >= limit:
            continue
        active[run.run_id] += 1
        decisions.append(dispatch_decision(scope, candidate.task, now, candidate.timer_id))
    return decisions
