"""The execution engine's fold: runs, plans and cancellation, plus the task and timer handlers.

Run states: queued (RunRequested) → running (PlanCreated) → succeeded | failed,
and queued | running → cancelling (RunCancelRequested) → cancelled once nothing
runs any more.  A run completes when every task is terminal: succeeded if all
tasks succeeded, failed otherwise.  Completion is derived here, never emitted.
"""

from __future__ import annotations

from collections.abc import Iterator

from arco.events.execution import PlanCreated, RunCancelRequested, RunTriggered, TaskSpec
from arco.fold import tasks, timers
from arco.fold.context import FoldContext, Handler, Prefetch
from arco.fold.execution_state import (
    TERMINAL_RUN_STATES,
    RunWork,
    as_str,
    as_strs,
    empty_counts,
    task_pk,
)
from arco.fold.rows import Doc
from arco.fold.tables import RUN_PLANS, RUNS, TASKS, ProjectionTable

CANCELLABLE_TASK_STATES = frozenset({"pending", "ready", "retry_wait", "dispatched"})


def on_run_triggered(ctx: FoldContext, data: RunTriggered) -> None:
    run = ctx.get(RUNS, data.run_id)
    if run is None:
        ctx.warn(f"RunTriggered for unknown run {data.run_id}")
        return
    if run.get("triggered_at") is None:
        ctx.put(RUNS, data.run_id, {**run, "triggered_at": ctx.at})


def on_plan_created(ctx: FoldContext, data: PlanCreated) -> None:
    work = RunWork(ctx, data.run_id)
    run = work.run
    if run is None:
        ctx.warn(f"PlanCreated for unknown run {data.run_id}")
        return
    if run.get("planned_at") is not None or run["state"] != "queued":
        return
    run.update(state="running", planned_at=ctx.at, started_at=ctx.at, task_counts=empty_counts())
    if data.error is not None:
        run["tasks_total"] = 0
        work.finish_run("failed", data.error.model_dump(mode="json"))
        work.save()
        return
    specs = _unique(ctx, data.tasks)
    run["tasks_total"] = len(specs)
    ctx.put(RUN_PLANS, data.run_id, {"run_id": data.run_id, "task_keys": list(specs)})
    for task in _task_docs(ctx, data.run_id, specs):
        work.counts()[str(task["state"])] += 1
        work.add(task)
    work.save()


def _unique(ctx: FoldContext, specs: tuple[TaskSpec, ...]) -> dict[str, TaskSpec]:
    unique: dict[str, TaskSpec] = {}
    for spec in specs:
        if spec.task_key in unique:
            ctx.warn(f"plan names task {spec.task_key!r} twice; the first wins")
            continue
        unique[spec.task_key] = spec
    return unique


def _task_docs(ctx: FoldContext, run_id: str, specs: dict[str, TaskSpec]) -> Iterator[Doc]:
    dependents: dict[str, list[str]] = {key: [] for key in specs}
    for spec in specs.values():
        for upstream in dict.fromkeys(spec.depends_on):
            if upstream in specs:
                dependents[upstream].append(spec.task_key)
    for index, spec in enumerate(specs.values()):
        waiting = [k for k in dict.fromkeys(spec.depends_on) if k in specs]
        yield {
            "run_id": run_id,
            "task_key": spec.task_key,
            "task_index": index,
            "asset_key": spec.asset_key,
            "partition_key": spec.partition_key,
            "code_version": spec.code_version,
            "retry_policy": spec.retry_policy.model_dump(mode="json"),
            "depends_on": waiting,
            "dependents": dependents[spec.task_key],
            "waiting_on": waiting,
            "state": "pending" if waiting else "ready",
            "created_at": ctx.at,
            "ready_at": None if waiting else ctx.at,
            "attempt": 0,
            "attempt_id": None,
            "last_dispatch_attempt": 0,
            "failures": 0,
            "abandoned": 0,
            "dispatched_at": None,
            "started_at": None,
            "worker_id": None,
            "last_heartbeat_at": None,
            "heartbeat_sequence": None,
            "finished_at": None,
            "retry_timer_id": None,
            "retry_at": None,
            "error": None,
            "attempts": [],
        }


def on_run_cancel_requested(ctx: FoldContext, data: RunCancelRequested) -> None:
    work = RunWork(ctx, data.run_id)
    run = work.run
    if run is None or run["state"] in TERMINAL_RUN_STATES or run["state"] == "cancelling":
        return
    run.update(
        cancel_requested_at=ctx.at, cancel_requested_by=data.requested_by, cancel_reason=data.reason
    )
    if run["state"] == "queued":
        work.finish_run("cancelled")
        work.save()
        return
    run["state"] = "cancelling"
    plan = ctx.get(RUN_PLANS, data.run_id) or {}
    reason = data.reason or f"run cancelled by {data.requested_by}"
    for key in as_strs(plan, "task_keys"):
        task = work.task(key)
        if task is not None and as_str(task, "state") in CANCELLABLE_TASK_STATES:
            tasks.cancel_task(work, task, reason)
    work.save()


def _run_row(data: RunTriggered) -> Iterator[tuple[ProjectionTable, str]]:
    yield RUNS, data.run_id


def _plan_rows(data: PlanCreated) -> Iterator[tuple[ProjectionTable, str]]:
    yield RUNS, data.run_id
    yield RUN_PLANS, data.run_id
    for spec in data.tasks:
        yield TASKS, task_pk(data.run_id, spec.task_key)


def _cancel_rows(data: RunCancelRequested) -> Iterator[tuple[ProjectionTable, str]]:
    yield RUNS, data.run_id
    yield RUN_PLANS, data.run_id


HANDLERS: dict[str, Handler] = {
    "RunTriggered": on_run_triggered,
    "PlanCreated": on_plan_created,
    "RunCancelRequested": on_run_cancel_requested,
    "DispatchRequested": tasks.on_dispatch_requested,
    "TaskStarted": tasks.on_task_started,
    "TaskHeartbeat": tasks.on_task_heartbeat,
    "TaskFinished": tasks.on_task_finished,
    "TimerRequested": timers.on_timer_requested,
    "TimerFired": timers.on_timer_fired,
}
PREFETCH: dict[str, Prefetch] = {
    "RunTriggered": _run_row,
    "PlanCreated": _plan_rows,
    "RunCancelRequested": _cancel_rows,
    "DispatchRequested": tasks.rows_for_task_fact,
    "TaskStarted": tasks.rows_for_task_fact,
    "TaskHeartbeat": tasks.rows_for_task_fact,
    "TaskFinished": tasks.rows_for_finished,
    "TimerRequested": timers.rows_for_timer_requested,
    "TimerFired": timers.rows_for_timer_fired,
}
