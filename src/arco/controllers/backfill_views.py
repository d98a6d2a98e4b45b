"""What the backfill controller reads: a backfill row, and its chunks' progress."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from arco.controllers.backfill_chunks import chunk_count
from arco.events import BackfillCreated, BackfillState, PartitionSelector
from arco.fold.rows import Doc, Scope


@dataclass(frozen=True)
class BackfillView:
    """A backfill row as the controller reads it."""

    scope: Scope
    backfill_id: str
    state: BackfillState
    state_version: int
    asset_selection: tuple[str, ...]
    selector: PartitionSelector
    partitions_def: Mapping[str, object]
    total_partitions: int
    chunk_size: int
    total_chunks: int
    max_concurrent_runs: int
    next_chunk_index: int = 0
    last_planned_key: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    created_event_id: str | None = None
    last_transition_to: BackfillState | None = None
    last_transition_event_id: str | None = None

    @classmethod
    def from_doc(cls, scope: Scope, doc: Doc) -> BackfillView:
        created = BackfillCreated.model_validate(
            {
                key: doc[key]
                for key in (
                    "backfill_id",
                    "asset_selection",
                    "selector",
                    "partitions_def",
                    "total_partitions",
                    "chunk_size",
                    "max_concurrent_runs",
                    "tags",
                )
            }
        )
        last = doc.get("last_transition")
        last = last if isinstance(last, dict) else {}
        return cls(
            scope=scope,
            backfill_id=created.backfill_id,
            state=BackfillState(str(doc["state"])),
            state_version=_int(doc.get("state_version")),
            asset_selection=created.asset_selection,
            selector=created.selector,
            partitions_def=created.partitions_def,
            total_partitions=created.total_partitions,
            chunk_size=created.chunk_size,
            total_chunks=chunk_count(created.total_partitions, created.chunk_size),
            max_concurrent_runs=created.max_concurrent_runs,
            next_chunk_index=_int(doc.get("next_chunk_index")),
            last_planned_key=_str(doc.get("last_planned_key")),
            tags=created.tags,
            created_event_id=_str(doc.get("created_event_id")),
            last_transition_to=None if "to_state" not in last else BackfillState(last["to_state"]),
            last_transition_event_id=_str(last.get("event_id")),
        )


@dataclass(frozen=True)
class ActiveChunk:
    """A planned chunk whose run has not finished; ``run_state`` from the runs projection."""

    chunk_index: int
    run_id: str | None = None
    run_state: str | None = None


@dataclass(frozen=True)
class ChunkProgress:
    """Chunk rows of one backfill counted by state; active ones listed when a cancel needs them."""

    succeeded: int = 0
    failed: int = 0
    cancelled: int = 0
    active_count: int = 0
    active: tuple[ActiveChunk, ...] = ()

    @property
    def terminal(self) -> int:
        return self.succeeded + self.failed + self.cancelled

    @property
    def planned(self) -> int:
        return self.terminal + max(self.active_count, len(self.active))


def _int(value: object) -> int:
    return value if isinstance(value, int) else 0


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None
