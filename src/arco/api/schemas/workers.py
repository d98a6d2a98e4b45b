"""Bodies of the worker contract (``/workers``): poll, claim, heartbeat, report."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from arco.api.models import AcceptedResponse, PageOut
from arco.api.schemas.numbers import Int64
from arco.events.execution import TaskError, TaskOutcome

WorkerTaskState = Literal["dispatched", "running"]


# --- bodies ---------------------------------------------------------------------------


class AttemptRef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    run_id: str = Field(min_length=1, max_length=500)
    task_key: str = Field(min_length=1, max_length=500)
    attempt_id: str = Field(min_length=1, max_length=500, description="From GET /workers/tasks")


class ClaimRequest(AttemptRef):
    attempt: Int64 = Field(ge=1, description="The attempt number listed with the attempt_id")
    worker_id: str = Field(min_length=1, max_length=200, description="Who runs it (shown on tasks)")


class HeartbeatRequest(AttemptRef):
    sequence: Int64 = Field(ge=0, description="Increases with every heartbeat of the attempt")
    attempt: Int64 | None = Field(default=None, ge=1, description="Checked when given")
    worker_id: str | None = Field(
        default=None, min_length=1, max_length=200, description="Check the lease (optional)"
    )


class ResultRequest(AttemptRef):
    attempt: Int64 = Field(ge=1)
    outcome: TaskOutcome
    asset_key: str = Field(min_length=1, description="The task's asset (as listed)")
    partition_key: str | None = Field(default=None, description="The task's partition, if any")
    code_version: str | None = Field(default=None, description="The code version that ran")
    metadata: dict[str, str | Int64 | float | bool | None] = Field(default_factory=dict)
    error: TaskError | None = Field(default=None, description="Why it failed")
    worker_id: str | None = Field(
        default=None, min_length=1, max_length=200, description="Check the lease (optional)"
    )


# --- responses ----------------------------------------------------------------------


class WorkerTaskOut(BaseModel):
    run_id: str
    task_key: str
    attempt: Int64
    attempt_id: str
    asset_key: str
    partition_key: str | None = None
    code_version: str | None = None
    state: str
    ready_at: str | None = None
    dispatched_at: str | None = None
    worker_id: str | None = None
    started_at: str | None = None
    last_heartbeat_at: str | None = None


class WorkerTaskPage(PageOut):
    items: list[WorkerTaskOut]
    next_cursor: str | None = None


class ClaimOut(AcceptedResponse):
    """``accepted_event_id`` is the attempt's TaskStarted, whoever appended it."""

    claimed: bool = Field(description="true: this worker holds the attempt and must run it")
    holder_worker_id: str = Field(description="The worker whose claim won")
    run_id: str
    task_key: str
    attempt: Int64
    attempt_id: str


class HeartbeatOut(AcceptedResponse):
    stop: bool = Field(description="true: kill the attempt (see stop_reason)")
    stop_reason: str | None = None


class ResultOut(AcceptedResponse):
    late: bool = Field(
        description="true: this report did not decide the task: its attempt was superseded, "
        "or another outcome was recorded first (e.g. the engine's heartbeat timeout)"
    )
    recorded_outcome: TaskOutcome = Field(description="The attempt's outcome on record")
