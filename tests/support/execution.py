"""Builders for execution-engine tests: plans, worker facts, and an in-memory fold bench."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from arco.events import OrchestrationEvent, Payload, StoredEvent
from arco.events.execution import (
    DispatchRequested,
    PlanCreated,
    RetryPolicy,
    TaskError,
    TaskFinished,
    TaskHeartbeat,
    TaskOutcome,
    TaskSpec,
    TaskStarted,
    task_key_for,
)
from arco.fold.apply import apply_event
from arco.fold.context import FoldContext
from arco.fold.rows import MemoryRows
from arco.fold.tables import ProjectionTable
from support.factories import T0, TENANT, WORKSPACE, run_requested

Doc = dict[str, Any]
"""Projection docs as tests read them (nested JSON, indexed freely)."""


def spec(
    asset: str,
    partition: str | None = None,
    *,
    deps: tuple[str, ...] = (),
    retries: int = 0,
    delay: float = 0.0,
    code_version: str | None = "v1",
    policy: RetryPolicy | None = None,
) -> TaskSpec:
    return TaskSpec(
        task_key=task_key_for(asset, partition),
        asset_key=asset,
        partition_key=partition,
        depends_on=deps,
        code_version=code_version,
        retry_policy=policy or RetryPolicy(max_retries=retries, delay_seconds=delay),
    )


def chain_plan(partitions: tuple[str, ...] = ("a", "b"), retries: int = 0) -> tuple[TaskSpec, ...]:
    """raw[p] → clean[p] → report (unpartitioned, waits for every clean[p])."""
    raw = [spec("raw", p, retries=retries) for p in partitions]
    clean = [spec("clean", p, deps=(task_key_for("raw", p),), retries=retries) for p in partitions]
    report = spec("report", deps=tuple(s.task_key for s in clean), retries=retries)
    return (*raw, *clean, report)


def finished(
    run_id: str,
    task: Doc,
    outcome: TaskOutcome = "succeeded",
    *,
    attempt_id: str | None = None,
    attempt: int | None = None,
    error_kind: str = "boom",
    code_version: str | None = None,
) -> TaskFinished:
    return TaskFinished(
        run_id=run_id,
        task_key=str(task["task_key"]),
        attempt=attempt or int(str(task["attempt"])) or 1,
        attempt_id=attempt_id or str(task["attempt_id"]),
        outcome=outcome,
        asset_key=str(task["asset_key"]),
        partition_key=task["partition_key"] if isinstance(task["partition_key"], str) else None,
        code_version=code_version or (str(task["code_version"]) if task["code_version"] else None),
        error=None if outcome == "succeeded" else TaskError(kind=error_kind, message="it broke"),
    )


class FoldBench:
    """Events folded into MemoryRows one by one, each a second after the previous."""

    def __init__(self, *, tenant: str = TENANT, workspace: str = WORKSPACE) -> None:
        self.rows = MemoryRows()
        self.offset = 0
        self.now = T0
        self.tenant = tenant
        self.workspace = workspace
        self.events: list[OrchestrationEvent] = []

    def apply(self, *payloads: Payload, at: datetime | None = None) -> None:
        for payload in payloads:
            self.now = at or self.now + timedelta(seconds=1)
            event = OrchestrationEvent.new(self.tenant, self.workspace, payload, now=self.now)
            self.apply_event(event)

    def apply_event(self, event: OrchestrationEvent) -> None:
        self.offset += 1
        self.events.append(event)
        apply_event(self.rows, StoredEvent.of(event, self.offset))

    def new_run(self, run_key: str, plan: tuple[TaskSpec, ...]) -> str:
        request = run_requested(run_key, tenant=self.tenant, workspace=self.workspace)
        self.apply(request, PlanCreated(run_id=request.run_id, tasks=plan))
        return request.run_id

    def seed(self, table: ProjectionTable, pk: str, doc: Doc) -> None:
        """Write a row another fold owns (e.g. a backfill chunk) as if it were there."""
        seed = OrchestrationEvent.new(self.tenant, self.workspace, run_requested("seed"), now=T0)
        FoldContext(self.rows, StoredEvent.of(seed, 0)).put(table, pk, doc)

    def run(self, run_id: str) -> Doc:
        return self.rows.table("runs")[run_id]

    def task(self, run_id: str, task_key: str) -> Doc:
        return self.rows.table("tasks")[f"{run_id}:{task_key}"]

    def tasks(self, run_id: str) -> dict[str, Doc]:
        prefix = f"{run_id}:"
        return {
            pk[len(prefix) :]: doc
            for pk, doc in self.rows.table("tasks").items()
            if pk.startswith(prefix)
        }

    def status(self, asset: str, partition: str | None) -> Doc:
        return self.rows.table("partition_status")[f"{asset}|{partition or '__all__'}"]

    def states(self, run_id: str) -> dict[str, str]:
        return {key: str(doc["state"]) for key, doc in self.tasks(run_id).items()}

    # --- worker and controller facts ------------------------------------------------

    def dispatch(self, run_id: str, task_key: str, attempt_id: str | None = None) -> str:
        task = self.task(run_id, task_key)
        attempt = int(str(task["last_dispatch_attempt"])) + 1
        attempt_id = attempt_id or f"att-{task_key}-{attempt}-{self.offset}"
        self.apply(
            DispatchRequested(
                run_id=run_id, task_key=task_key, attempt=attempt, attempt_id=attempt_id
            )
        )
        return attempt_id

    def start(self, run_id: str, task_key: str, worker: str = "w1") -> None:
        task = self.task(run_id, task_key)
        self.apply(
            TaskStarted(
                run_id=run_id,
                task_key=task_key,
                attempt=int(str(task["attempt"])),
                attempt_id=str(task["attempt_id"]),
                worker_id=worker,
            )
        )

    def heartbeat(self, run_id: str, task_key: str, sequence: int) -> None:
        task = self.task(run_id, task_key)
        self.apply(
            TaskHeartbeat(
                run_id=run_id,
                task_key=task_key,
                attempt_id=str(task["attempt_id"]),
                sequence=sequence,
            )
        )

    def finish(self, run_id: str, task_key: str, outcome: TaskOutcome = "succeeded") -> None:
        self.apply(finished(run_id, self.task(run_id, task_key), outcome))

    def run_task(self, run_id: str, task_key: str, outcome: TaskOutcome = "succeeded") -> None:
        """Dispatch, start and finish one attempt."""
        self.dispatch(run_id, task_key)
        self.start(run_id, task_key)
        self.finish(run_id, task_key, outcome)
