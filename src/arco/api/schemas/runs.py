"""Bodies of the run routes (``/runs``): runs, their tasks and compute logs."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from arco.api.models import PageOut
from arco.api.schemas.numbers import Int64


class RunOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    run_id: str
    run_key: str
    state: str
    asset_selection: list[str]
    partition_selection: dict[str, object] | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    source: dict[str, object]
    requested_at: str


class RunPage(PageOut):
    items: list[RunOut]
    next_cursor: str | None = None


class TaskOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    run_id: str
    task_key: str
    asset_key: str
    partition_key: str | None = None
    state: str
    attempt: Int64 = 0


class TaskPage(PageOut):
    items: list[TaskOut]
    next_cursor: str | None = None


class LogStreamOut(BaseModel):
    text: str
    offset: Int64 = Field(description="Byte offset of `text` in the stream")
    next_offset: Int64 = Field(description="Pass as the stream's offset to read on")
    size: Int64 = Field(description="Bytes in the stream so far")


class ComputeLogOut(BaseModel):
    run_id: str
    task_key: str
    attempt: Int64
    attempts: list[Int64] = Field(description="Every attempt of the task that has a log")
    stdout: LogStreamOut
    stderr: LogStreamOut = Field(description="stderr, with the asset's context.log lines")


class ManualRunRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    asset_selection: list[str] = Field(min_length=1, description="Asset keys to materialize")
    partition_keys: list[str] | None = Field(default=None, min_length=1)
    tags: dict[str, str] = Field(default_factory=dict)
    client_request_id: str | None = Field(default=None, min_length=1, max_length=200)


class CancelRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(default=None, max_length=1000)
