"""Typed, read-only views of the run, task and timer docs the execution controllers decide from.

Controllers receive docs read from projections (plain JSON); these views parse
the fields they use once, so the decisions themselves stay small and typed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from arco.events import OrchestrationEvent, Payload
from arco.events.execution import RetryPolicy
from arco.fold.rows import Doc, Scope
from arco.ids import derived_ulid

RUN_CONCURRENCY_TAG = "arco/max_concurrent_tasks"
"""A run tag that lowers (never raises) the per-run task concurrency for that run."""


def parse_instant(value: object) -> datetime | None:
    """A projection timestamp (``iso()`` format) as an aware datetime."""
    return datetime.fromisoformat(value) if isinstance(value, str) else None


def _int(doc: Doc, key: str) -> int:
    value = doc.get(key)
    return value if isinstance(value, int) else 0


def _str(doc: Doc, key: str) -> str | None:
    value = doc.get(key)
    return value if isinstance(value, str) else None


@dataclass(frozen=True)
class TaskView:
    """What the controllers read from a task doc."""

    run_id: str
    task_key: str
    asset_key: str
    partition_key: str | None
    code_version: str | None
    state: str
    task_index: int
    attempt: int
    attempt_id: str | None
    last_dispatch_attempt: int
    failures: int
    abandoned: int
    retry_policy: RetryPolicy
    worker_id: str | None
    ready_at: datetime | None
    dispatched_at: datetime | None
    started_at: datetime | None
    last_heartbeat_at: datetime | None
    finished_at: datetime | None
    retry_timer_id: str | None
    retry_at: datetime | None

    @classmethod
    def from_doc(cls, doc: Doc) -> TaskView:
        policy = doc.get("retry_policy")
        return cls(
            run_id=str(doc["run_id"]),
            task_key=str(doc["task_key"]),
            asset_key=str(doc["asset_key"]),
            partition_key=_str(doc, "partition_key"),
            code_version=_str(doc, "code_version"),
            state=str(doc["state"]),
            task_index=_int(doc, "task_index"),
            attempt=_int(doc, "attempt"),
            attempt_id=_str(doc, "attempt_id"),
            last_dispatch_attempt=_int(doc, "last_dispatch_attempt"),
            failures=_int(doc, "failures"),
            abandoned=_int(doc, "abandoned"),
            retry_policy=RetryPolicy.model_validate(policy if isinstance(policy, dict) else {}),
            worker_id=_str(doc, "worker_id"),
            ready_at=parse_instant(doc.get("ready_at")),
            dispatched_at=parse_instant(doc.get("dispatched_at")),
            started_at=parse_instant(doc.get("started_at")),
            last_heartbeat_at=parse_instant(doc.get("last_heartbeat_at")),
            finished_at=parse_instant(doc.get("finished_at")),
            retry_timer_id=_str(doc, "retry_timer_id"),
            retry_at=parse_instant(doc.get("retry_at")),
        )

    @property
    def next_attempt(self) -> int:
        """The attempt number a new dispatch must use (spent numbers are never reused)."""
        return max(self.attempt, self.last_dispatch_attempt) + 1


@dataclass(frozen=True)
class RunView:
    """What the controllers read from a run doc."""

    run_id: str
    state: str
    active_tasks: int
    max_concurrent_tasks: int | None

    @classmethod
    def from_doc(cls, doc: Doc) -> RunView:
        counts = doc.get("task_counts")
        active = 0
        if isinstance(counts, Mapping):
            active = sum(int(counts.get(s, 0)) for s in ("dispatched", "running"))
        tags = doc.get("tags")
        limit = tags.get(RUN_CONCURRENCY_TAG) if isinstance(tags, Mapping) else None
        return cls(
            run_id=str(doc["run_id"]),
            state=str(doc["state"]),
            active_tasks=active,
            max_concurrent_tasks=int(limit) if isinstance(limit, str) and limit.isdigit() else None,
        )


@dataclass(frozen=True)
class TimerView:
    timer_id: str
    state: str
    purpose: str
    fire_at: datetime
    run_id: str | None
    task_key: str | None

    @classmethod
    def from_doc(cls, doc: Doc) -> TimerView:
        fire_at = parse_instant(doc.get("fire_at"))
        assert fire_at is not None
        return cls(
            timer_id=str(doc["timer_id"]),
            state=str(doc["state"]),
            purpose=str(doc["purpose"]),
            fire_at=fire_at,
            run_id=_str(doc, "run_id"),
            task_key=_str(doc, "task_key"),
        )


def event(scope: Scope, data: Payload, now: datetime) -> OrchestrationEvent:
    """A controller's event: its id derives from ``now`` and its key (replayable)."""
    return OrchestrationEvent.new(scope.tenant_id, scope.workspace_id, data, now=now)


def attempt_id_for(scope: Scope, task: TaskView, attempt: int, now: datetime) -> str:
    """A fresh, deterministic attempt id: a ULID at ``now`` seeded by the attempt's identity."""
    seed = f"attempt:{scope.tenant_id}/{scope.workspace_id}/{task.run_id}/{task.task_key}/{attempt}"
    return derived_ulid(now, seed)
