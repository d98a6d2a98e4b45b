"""Backfill events: creation (with a selector), chunk planning, state changes."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import Field

from arco.events.payload import Payload
from arco.events.selectors import PartitionSelector


class BackfillState(StrEnum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    PAUSED = "PAUSED"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLING = "CANCELLING"
    CANCELLED = "CANCELLED"


class BackfillCreated(Payload):
    """A new backfill. It names partitions by selector, never by expanded list.

    ``partitions_def`` snapshots the asset's partitions definition so the
    backfill resolves the same keys on replay whatever the code says today.
    """

    type: Literal["BackfillCreated"] = "BackfillCreated"
    backfill_id: str
    asset_selection: tuple[str, ...]
    selector: PartitionSelector
    partitions_def: dict[str, object]
    total_partitions: int = Field(ge=0)
    chunk_size: int = Field(ge=1)
    max_concurrent_runs: int = Field(ge=1)
    tags: dict[str, str] = Field(default_factory=dict)
    client_request_id: str | None = None
    parent_backfill_id: str | None = None
    retry_request_id: str | None = None
    created_by: str = "system"

    def idempotency_key(self) -> str:
        if self.parent_backfill_id is not None and self.retry_request_id is not None:
            return f"backfill_retry:{self.parent_backfill_id}:{self.retry_request_id}"
        return f"backfill_create:{self.backfill_id}"


class BackfillChunkPlanned(Payload):
    """One chunk's keys (only this chunk's); its RunRequested is in the same batch."""

    type: Literal["BackfillChunkPlanned"] = "BackfillChunkPlanned"
    backfill_id: str
    chunk_index: int = Field(ge=0)
    partition_keys: tuple[str, ...]
    run_key: str

    def idempotency_key(self) -> str:
        return f"backfill_chunk:{self.backfill_id}:{self.chunk_index}"


class BackfillStateChanged(Payload):
    """A transition of the backfill state machine; ``state_version`` is the new version."""

    type: Literal["BackfillStateChanged"] = "BackfillStateChanged"
    backfill_id: str
    from_state: BackfillState
    to_state: BackfillState
    state_version: int = Field(ge=1)
    changed_by: str = "system"
    reason: str | None = None

    def idempotency_key(self) -> str:
        return f"backfill_state:{self.backfill_id}:{self.state_version}"


def backfill_run_key(backfill_id: str, chunk_index: int) -> str:
    return f"backfill:{backfill_id}:chunk:{chunk_index}"
