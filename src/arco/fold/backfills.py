"""Backfill events → ``backfills``, ``backfill_chunks`` and ``backfill_requests``.

A backfill row holds what the backfill events say: the selector (never its
expansion), the partitions-definition snapshot, totals, the state machine
(``state``, ``state_version``) and what has been planned.  A chunk row is created
``planned`` by its BackfillChunkPlanned; the RunRequested fold adds its run id,
and the execution fold sets its terminal ``state`` when the run finishes.

Counters of finished chunks are deliberately *not* kept on the backfill row:
they change when the execution fold writes a chunk row, which this fold never
sees as an event, so the read side counts chunk rows by state instead (an
indexed GROUP BY).  Nothing here ever increments a counter without first
checking that the row it counts did not exist, so redelivery cannot count twice.

Idempotency (L2-INV-6/7): a backfill or chunk that exists is never recreated; a
state change applies only when it is the next version (``state_version`` =
current + 1), starts from the current state and is a legal edge of
:data:`arco.controllers.backfill_states.TRANSITIONS`.
"""

from __future__ import annotations

from collections.abc import Iterator

from arco.controllers.backfill_states import TERMINAL_STATES, is_legal
from arco.events.backfills import (
    BackfillChunkPlanned,
    BackfillCreated,
    BackfillState,
    BackfillStateChanged,
)
from arco.fold.context import FoldContext, Handler, Prefetch
from arco.fold.rows import Doc
from arco.fold.runs import chunk_pk
from arco.fold.tables import BACKFILL_CHUNKS, BACKFILL_REQUESTS, BACKFILLS, ProjectionTable

CHUNK_PLANNED = "planned"
CHUNK_TERMINAL_STATES = frozenset({"succeeded", "failed", "cancelled"})


def request_pk(data: BackfillCreated) -> str | None:
    """The ``backfill_requests`` key that makes a create or a retry idempotent, if any."""
    if data.parent_backfill_id is not None and data.retry_request_id is not None:
        return f"retry:{data.parent_backfill_id}:{data.retry_request_id}"
    if data.client_request_id is not None:
        return f"client:{data.client_request_id}"
    return None


def on_backfill_created(ctx: FoldContext, data: BackfillCreated) -> None:
    if ctx.get(BACKFILLS, data.backfill_id) is not None:
        return
    key = request_pk(data)
    if key is not None:
        owner = ctx.get(BACKFILL_REQUESTS, key)
        if owner is not None:
            if owner["backfill_id"] != data.backfill_id:
                ctx.warn(
                    f"backfill {data.backfill_id} dropped: {key} created {owner['backfill_id']}"
                )
            return
        ctx.put(BACKFILL_REQUESTS, key, {"backfill_id": data.backfill_id, "request": key})
    ctx.put(BACKFILLS, data.backfill_id, _new_backfill(ctx, data))
    if data.parent_backfill_id is not None:
        _link_retry(ctx, data.parent_backfill_id, data.backfill_id)


def _new_backfill(ctx: FoldContext, data: BackfillCreated) -> Doc:
    return {
        "backfill_id": data.backfill_id,
        "state": BackfillState.PENDING.value,
        "state_version": 0,
        "asset_selection": list(data.asset_selection),
        "selector": data.selector.model_dump(mode="json"),
        "partitions_def": data.partitions_def,
        "total_partitions": data.total_partitions,
        "chunk_size": data.chunk_size,
        "total_chunks": -(-data.total_partitions // data.chunk_size),
        "max_concurrent_runs": data.max_concurrent_runs,
        "tags": data.tags,
        "client_request_id": data.client_request_id,
        "parent_backfill_id": data.parent_backfill_id,
        "retry_request_id": data.retry_request_id,
        "retry_backfill_ids": [],
        "created_by": data.created_by,
        "created_at": ctx.at,
        "created_event_id": ctx.event.event_id,
        "updated_at": ctx.at,
        "started_at": None,
        "completed_at": None,
        "chunks_planned": 0,
        "partitions_planned": 0,
        "next_chunk_index": 0,
        "last_planned_key": None,
        "last_transition": None,
    }


def _link_retry(ctx: FoldContext, parent_id: str, child_id: str) -> None:
    parent = ctx.get(BACKFILLS, parent_id)
    if parent is None:
        ctx.warn(f"retry backfill {child_id} names unknown parent {parent_id}")
        return
    children = parent.get("retry_backfill_ids")
    known = [c for c in children if isinstance(c, str)] if isinstance(children, list) else []
    if child_id not in known:
        ctx.put(BACKFILLS, parent_id, {**parent, "retry_backfill_ids": [*known, child_id]})


def on_chunk_planned(ctx: FoldContext, data: BackfillChunkPlanned) -> None:
    pk = chunk_pk(data.backfill_id, data.chunk_index)
    if ctx.get(BACKFILL_CHUNKS, pk) is not None:
        return  # L2-INV-7: the same chunk again changes nothing
    backfill = ctx.get(BACKFILLS, data.backfill_id)
    if backfill is None:
        ctx.warn(f"chunk {data.chunk_index} of unknown backfill {data.backfill_id} skipped")
        return
    ctx.put(
        BACKFILL_CHUNKS,
        pk,
        {
            "backfill_id": data.backfill_id,
            "chunk_index": data.chunk_index,
            "partition_keys": list(data.partition_keys),
            "partition_count": len(data.partition_keys),
            "run_key": data.run_key,
            "run_id": None,
            "state": CHUNK_PLANNED,
            "planned_at": ctx.at,
            "planned_event_id": ctx.event.event_id,
        },
    )
    backfill["chunks_planned"] = _int(backfill, "chunks_planned") + 1
    backfill["partitions_planned"] = _int(backfill, "partitions_planned") + len(data.partition_keys)
    # Chunks are planned in index order; the last key lets the controller resume a filter
    # scan where the previous chunk stopped instead of from the start.
    if data.chunk_index + 1 > _int(backfill, "next_chunk_index"):
        backfill["next_chunk_index"] = data.chunk_index + 1
        backfill["last_planned_key"] = data.partition_keys[-1] if data.partition_keys else None
    backfill["updated_at"] = ctx.at
    ctx.put(BACKFILLS, data.backfill_id, backfill)


def on_state_changed(ctx: FoldContext, data: BackfillStateChanged) -> None:
    backfill = ctx.get(BACKFILLS, data.backfill_id)
    if backfill is None:
        ctx.warn(f"state change of unknown backfill {data.backfill_id} skipped")
        return
    version = _int(backfill, "state_version")
    if data.state_version <= version:
        return  # L2-INV-6: an old or redelivered version changes nothing
    current = BackfillState(str(backfill["state"]))
    if (
        data.state_version != version + 1
        or data.from_state != current
        or not is_legal(current, data.to_state)
    ):
        ctx.warn(
            f"backfill {data.backfill_id}: {data.from_state}->{data.to_state} "
            f"v{data.state_version} rejected (is {current} v{version})"
        )
        return
    backfill.update(
        state=data.to_state.value,
        state_version=data.state_version,
        updated_at=ctx.at,
        last_transition={
            "from_state": data.from_state.value,
            "to_state": data.to_state.value,
            "state_version": data.state_version,
            "changed_by": data.changed_by,
            "reason": data.reason,
            "at": ctx.at,
            "event_id": ctx.event.event_id,
        },
    )
    if data.to_state == BackfillState.RUNNING and backfill.get("started_at") is None:
        backfill["started_at"] = ctx.at
    if data.to_state in TERMINAL_STATES:
        backfill["completed_at"] = ctx.at
    ctx.put(BACKFILLS, data.backfill_id, backfill)


def _int(doc: Doc, key: str) -> int:
    value = doc.get(key)
    return value if isinstance(value, int) else 0


def _created_rows(data: BackfillCreated) -> Iterator[tuple[ProjectionTable, str]]:
    yield BACKFILLS, data.backfill_id
    key = request_pk(data)
    if key is not None:
        yield BACKFILL_REQUESTS, key
    if data.parent_backfill_id is not None:
        yield BACKFILLS, data.parent_backfill_id


def _chunk_rows(data: BackfillChunkPlanned) -> Iterator[tuple[ProjectionTable, str]]:
    yield BACKFILL_CHUNKS, chunk_pk(data.backfill_id, data.chunk_index)
    yield BACKFILLS, data.backfill_id


def _state_rows(data: BackfillStateChanged) -> Iterator[tuple[ProjectionTable, str]]:
    yield BACKFILLS, data.backfill_id


HANDLERS: dict[str, Handler] = {
    "BackfillCreated": on_backfill_created,
    "BackfillChunkPlanned": on_chunk_planned,
    "BackfillStateChanged": on_state_changed,
}
PREFETCH: dict[str, Prefetch] = {
    "BackfillCreated": _created_rows,
    "BackfillChunkPlanned": _chunk_rows,
    "BackfillStateChanged": _state_rows,
}
