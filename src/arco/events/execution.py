"""Layer 1: the execution engine's facts (runs, plans, dispatch, tasks, timers).

Derived facts (a task became ready, a run completed) are never events: the fold
computes them from these.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from arco.events.payload import Payload

UNPARTITIONED = "__all__"
"""The partition key under which an unpartitioned asset's status is kept."""


def task_key_for(asset_key: str, partition_key: str | None) -> str:
    """``asset`` for an unpartitioned asset, ``asset[partition]`` otherwise."""
    return asset_key if partition_key is None else f"{asset_key}[{partition_key}]"


class RetryPolicy(BaseModel):
    """How often and how patiently a failed task is retried."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_retries: int = Field(default=0, ge=0)
    delay_seconds: float = Field(default=0.0, ge=0)
    backoff: Literal["constant", "exponential"] = "constant"
    jitter: bool = False


class TaskSpec(BaseModel):
    """One asset × partition of a run, with the task keys it waits for."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    task_key: str
    asset_key: str
    partition_key: str | None = None
    depends_on: tuple[str, ...] = ()
    code_version: str | None = None
    retry_policy: RetryPolicy = Field(default_factory=RetryPolicy)


class TaskError(BaseModel):
    """Why an attempt (or a plan) failed: a stable ``kind`` and a human message."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: str
    message: str
    traceback: str | None = None


class RunTriggered(Payload):
    type: Literal["RunTriggered"] = "RunTriggered"
    run_id: str
    run_key: str

    def idempotency_key(self) -> str:
        return f"run_triggered:{self.run_id}"


class PlanCreated(Payload):
    """The run's tasks; with ``error`` set the run could not be planned and fails."""

    type: Literal["PlanCreated"] = "PlanCreated"
    run_id: str
    tasks: tuple[TaskSpec, ...]
    error: TaskError | None = None

    def idempotency_key(self) -> str:
        return f"plan:{self.run_id}"


class RunCancelRequested(Payload):
    type: Literal["RunCancelRequested"] = "RunCancelRequested"
    run_id: str
    requested_by: str = "system"
    reason: str | None = None

    def idempotency_key(self) -> str:
        return f"run_cancel:{self.run_id}"


class DispatchRequested(Payload):
    """Hand attempt ``attempt`` of a task to a worker under a fresh ``attempt_id``."""

    type: Literal["DispatchRequested"] = "DispatchRequested"
    run_id: str
    task_key: str
    attempt: int = Field(ge=1)
    attempt_id: str

    def idempotency_key(self) -> str:
        return f"dispatch:{self.run_id}:{self.task_key}:{self.attempt}"


class TaskStarted(Payload):
    type: Literal["TaskStarted"] = "TaskStarted"
    run_id: str
    task_key: str
    attempt: int = Field(ge=1)
    attempt_id: str
    worker_id: str

    def idempotency_key(self) -> str:
        return f"task_started:{self.attempt_id}"


class TaskHeartbeat(Payload):
    type: Literal["TaskHeartbeat"] = "TaskHeartbeat"
    run_id: str
    task_key: str
    attempt_id: str
    sequence: int = Field(ge=0)

    def idempotency_key(self) -> str:
        return f"task_heartbeat:{self.attempt_id}:{self.sequence}"


TaskOutcome = Literal["succeeded", "failed", "cancelled"]


class TaskFinished(Payload):
    """The end of one attempt: the fact partition status is folded from."""

    type: Literal["TaskFinished"] = "TaskFinished"
    run_id: str
    task_key: str
    attempt: int = Field(ge=1)
    attempt_id: str
    outcome: TaskOutcome
    asset_key: str
    partition_key: str | None = None
    code_version: str | None = None
    metadata: dict[str, str | int | float | bool | None] = Field(default_factory=dict)
    error: TaskError | None = None

    def idempotency_key(self) -> str:
        return f"task_finished:{self.attempt_id}"


TimerPurpose = Literal["retry", "heartbeat_check", "dispatch_check"]


class TimerRequested(Payload):
    type: Literal["TimerRequested"] = "TimerRequested"
    timer_id: str
    fire_at_epoch_ms: int
    purpose: TimerPurpose
    run_id: str | None = None
    task_key: str | None = None
    attempt: int | None = None

    def idempotency_key(self) -> str:
        return f"timer:{self.timer_id}"


class TimerFired(Payload):
    type: Literal["TimerFired"] = "TimerFired"
    timer_id: str
    run_id: str | None = None

    def idempotency_key(self) -> str:
        return f"timer_fired:{self.timer_id}"
