"""Timers: requested → fired.  A retry timer also tells its task when the retry is due."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

from arco.events.execution import TimerFired, TimerRequested
from arco.fold.context import FoldContext, iso
from arco.fold.execution_state import as_int, task_pk
from arco.fold.tables import TASKS, TIMERS, ProjectionTable


def fire_at_iso(epoch_ms: int) -> str:
    return iso(datetime.fromtimestamp(epoch_ms / 1000, UTC))


def on_timer_requested(ctx: FoldContext, data: TimerRequested) -> None:
    if ctx.get(TIMERS, data.timer_id) is not None:
        return
    ctx.put(
        TIMERS,
        data.timer_id,
        {
            "timer_id": data.timer_id,
            "state": "requested",
            "purpose": data.purpose,
            "fire_at_epoch_ms": data.fire_at_epoch_ms,
            "fire_at": fire_at_iso(data.fire_at_epoch_ms),
            "run_id": data.run_id,
            "task_key": data.task_key,
            "attempt": data.attempt,
            "requested_at": ctx.at,
            "fired_at": None,
        },
    )
    if data.purpose == "retry" and data.run_id is not None and data.task_key is not None:
        _link_retry(ctx, data, data.run_id, data.task_key)


def _link_retry(ctx: FoldContext, data: TimerRequested, run_id: str, task_key: str) -> None:
    pk = task_pk(run_id, task_key)
    task = ctx.get(TASKS, pk)
    if task is None or task["state"] != "retry_wait" or as_int(task, "attempt") != data.attempt:
        return
    task["retry_timer_id"] = data.timer_id
    task["retry_at"] = fire_at_iso(data.fire_at_epoch_ms)
    ctx.put(TASKS, pk, task)


def on_timer_fired(ctx: FoldContext, data: TimerFired) -> None:
    timer = ctx.get(TIMERS, data.timer_id)
    if timer is None:
        ctx.warn(f"TimerFired for unknown timer {data.timer_id}")
        return
    if timer["state"] == "requested":
        ctx.put(TIMERS, data.timer_id, {**timer, "state": "fired", "fired_at": ctx.at})


def rows_for_timer_requested(data: TimerRequested) -> Iterator[tuple[ProjectionTable, str]]:
    yield TIMERS, data.timer_id
    if data.run_id is not None and data.task_key is not None:
        yield TASKS, task_pk(data.run_id, data.task_key)


def rows_for_timer_fired(data: TimerFired) -> Iterator[tuple[ProjectionTable, str]]:
    yield TIMERS, data.timer_id
