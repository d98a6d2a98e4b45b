"""Bodies of the backfill routes (``/backfills``): targets, transitions, progress."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from arco.api.models import PageOut
from arco.api.schemas.numbers import Int64
from arco.events import PartitionSelector

DEFAULT_CHUNK_SIZE = 10


# --- request bodies ------------------------------------------------------------------


class BackfillTarget(BaseModel):
    model_config = ConfigDict(extra="forbid")

    asset_selection: list[str] = Field(
        min_length=1, description="Asset keys; they must share one partitions definition"
    )
    selector: PartitionSelector = Field(
        description="Which partitions: range (inclusive), keys, or filter (globs per dimension)",
        examples=[{"kind": "range", "start": "2024-01-01", "end": "2024-12-31"}],
    )
    chunk_size: Int64 = Field(
        default=DEFAULT_CHUNK_SIZE, description="Partitions per run (1..10000)"
    )


class BackfillCreate(BackfillTarget):
    max_concurrent_runs: Int64 | None = Field(
        default=None, description="Chunks running at once (default: no cap)"
    )
    tags: dict[str, str] = Field(default_factory=dict, description="Copied onto every run")
    client_request_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="Like Idempotency-Key, kept in the ledger: the same id is the same backfill",
    )


class TransitionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    expected_state_version: Int64 = Field(
        ge=0, description="The state_version you read; 409 version_conflict if it moved on"
    )
    reason: str | None = Field(default=None, max_length=1000, description="Kept in the ledger")


class RetryFailedRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    retry_request_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="The same id again answers the same new backfill (default: Idempotency-Key)",
    )


# --- responses ----------------------------------------------------------------------


class PreviewOut(BaseModel):
    partition_count: Int64
    chunk_count: Int64
    chunk_size: Int64
    first_chunk_keys: list[str]
    selector: PartitionSelector = Field(description="The selector pinned to explicit bounds")


class CountersOut(BaseModel):
    total: Int64
    planned: Int64
    not_planned: Int64
    active: Int64
    succeeded: Int64
    failed: Int64
    cancelled: Int64


class BackfillCounters(BaseModel):
    chunks: CountersOut
    partitions: CountersOut


class BackfillOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    backfill_id: str
    state: str
    display_state: str = Field(description="state, or PAUSED_WITH_FAILURES")
    state_version: Int64
    asset_selection: list[str]
    selector: dict[str, object]
    total_partitions: Int64
    total_chunks: Int64
    chunk_size: Int64
    max_concurrent_runs: Int64
    tags: dict[str, str] = Field(default_factory=dict)
    counters: BackfillCounters
    parent_backfill_id: str | None = None
    retry_backfill_ids: list[str] = Field(default_factory=list)
    created_at: str
    started_at: str | None = None
    completed_at: str | None = None


class BackfillPage(PageOut):
    items: list[BackfillOut]
    next_cursor: str | None = None


class ChunkOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    backfill_id: str
    chunk_index: Int64
    state: str = Field(description="planned, succeeded, failed or cancelled")
    display_state: str = Field(description="state, or running once the chunk's run started")
    partition_keys: list[str]
    partition_count: Int64
    run_key: str
    run_id: str | None = None
    planned_at: str


class ChunkPage(PageOut):
    items: list[ChunkOut]
    next_cursor: str | None = None
