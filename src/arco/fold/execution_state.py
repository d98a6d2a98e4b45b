"""Run and task states, and the unit of work every execution handler changes them through.

A run doc keeps a count of its tasks per state.  Handlers never edit that count
by hand: they load the run into a :class:`RunWork`, move tasks with
:meth:`RunWork.move` and call :meth:`RunWork.save`, which writes the touched
tasks, derives run completion (a projection-only fact, never an event) and
writes the run.  Because a task only moves when its state actually changes, a
redelivered event can never count twice.
"""

from __future__ import annotations

from typing import Literal, cast, get_args

from arco.fold.context import FoldContext
from arco.fold.rows import Doc
from arco.fold.runs import chunk_pk
from arco.fold.tables import BACKFILL_CHUNKS, RUNS, TASKS

RunState = Literal["queued", "running", "cancelling", "succeeded", "failed", "cancelled"]
TaskState = Literal[
    "pending",
    "ready",
    "dispatched",
    "running",
    "retry_wait",
    "succeeded",
    "failed",
    "skipped",
    "cancelled",
]
TASK_STATES: tuple[TaskState, ...] = get_args(TaskState)
TERMINAL_TASK_STATES: frozenset[str] = frozenset({"succeeded", "failed", "skipped", "cancelled"})
ACTIVE_TASK_STATES: frozenset[str] = frozenset({"dispatched", "running"})
TERMINAL_RUN_STATES: frozenset[str] = frozenset({"succeeded", "failed", "cancelled"})


def task_pk(run_id: str, task_key: str) -> str:
    """Tasks of one run sort together."""
    return f"{run_id}:{task_key}"


def empty_counts() -> dict[str, int]:
    return dict.fromkeys(TASK_STATES, 0)


def as_int(doc: Doc, key: str) -> int:
    value = doc.get(key)
    return value if isinstance(value, int) else 0


def as_str(doc: Doc, key: str) -> str | None:
    value = doc.get(key)
    return value if isinstance(value, str) else None


def as_strs(doc: Doc, key: str) -> list[str]:
    value = doc.get(key)
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def as_docs(doc: Doc, key: str) -> list[Doc]:
    value = doc.get(key)
    return [cast(Doc, v) for v in value if isinstance(v, dict)] if isinstance(value, list) else []


class RunWork:
    """One run's doc plus the task docs a handler touches, written back together."""

    def __init__(self, ctx: FoldContext, run_id: str) -> None:
        self.ctx = ctx
        self.run_id = run_id
        self.run = ctx.get(RUNS, run_id)
        self._tasks: dict[str, Doc | None] = {}
        self._touched: dict[str, Doc] = {}

    @property
    def state(self) -> str | None:
        return None if self.run is None else as_str(self.run, "state")

    def task(self, task_key: str) -> Doc | None:
        """The task's doc (one shared copy per handler, so edits accumulate)."""
        if task_key not in self._tasks:
            self._tasks[task_key] = self.ctx.get(TASKS, task_pk(self.run_id, task_key))
        return self._tasks[task_key]

    def add(self, task: Doc) -> None:
        """A task created by this handler (its state is already counted)."""
        key = cast(str, task["task_key"])
        self._tasks[key] = task
        self._touched[key] = task

    def touch(self, task: Doc) -> None:
        """Mark ``task`` for writing without changing its state."""
        self._touched[cast(str, task["task_key"])] = task

    def move(self, task: Doc, state: TaskState) -> None:
        """Change a task's state and the run's per-state counts with it."""
        self.touch(task)
        old = cast(str, task["state"])
        if old == state:
            return
        task["state"] = state
        if self.run is not None:
            counts = self.counts()
            counts[old] -= 1
            counts[state] += 1

    def counts(self) -> dict[str, int]:
        assert self.run is not None
        counts = cast(dict[str, int], self.run.setdefault("task_counts", empty_counts()))
        return counts

    def finish_run(self, state: RunState, error: Doc | None = None) -> None:
        """Move the run to a terminal state and tell its backfill chunk, if any."""
        assert self.run is not None
        self.run["state"] = state
        self.run["finished_at"] = self.ctx.at
        if error is not None:
            self.run["error"] = error
        _update_chunk(self.ctx, self.run, state)

    def save(self) -> None:
        """Write touched tasks, complete the run if every task is terminal, write the run."""
        for key, task in self._touched.items():
            self.ctx.put(TASKS, task_pk(self.run_id, key), task)
        self._touched.clear()
        if self.run is None:
            return
        self._complete_if_done()
        self.ctx.put(RUNS, self.run_id, self.run)

    def _complete_if_done(self) -> None:
        assert self.run is not None
        if self.state not in ("running", "cancelling"):
            return
        counts = self.counts()
        total = as_int(self.run, "tasks_total")
        if sum(counts[s] for s in TERMINAL_TASK_STATES) < total:
            return
        if self.state == "cancelling":
            self.finish_run("cancelled")
        elif counts["succeeded"] == total:
            self.finish_run("succeeded")
        else:
            message = (
                f"{counts['failed']} task(s) failed, {counts['skipped']} skipped, "
                f"{counts['cancelled']} cancelled"
            )
            self.finish_run("failed", {"kind": "tasks_failed", "message": message})


def _update_chunk(ctx: FoldContext, run: Doc, state: RunState) -> None:
    """A backfill chunk mirrors its run's terminal state (the backfill fold owns the rest)."""
    source = run.get("source")
    if not isinstance(source, dict) or source.get("kind") != "backfill":
        return
    pk = chunk_pk(cast(str, source["backfill_id"]), cast(int, source["chunk_index"]))
    chunk = ctx.get(BACKFILL_CHUNKS, pk)
    if chunk is not None:
        ctx.put(BACKFILL_CHUNKS, pk, {**chunk, "state": state, "run_state": state})
