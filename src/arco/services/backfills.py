"""Backfill services: preview, create, read, pause/resume/cancel and retry-failed.

Backfills target assets; which partitions an asset has comes from the user's
definitions, so callers pass ``partitions``: asset key → its partitions definition
(None for an unpartitioned asset).  Every asset of one backfill must share one
definition, which the backfill snapshots.

Progress counters are not stored on the backfill row: they are counted from chunk
rows by state in SQL (the execution fold finishes chunks; see ADR 0025).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import cast

from arco.controllers import backfills as controller
from arco.controllers.backfill_states import ACTION_TARGETS, Action, display_state
from arco.controllers.backfills import (
    ActiveChunk,
    BackfillPreview,
    BackfillRequest,
    BackfillView,
    ChunkProgress,
)
from arco.errors import NotFoundError, ValidationError, VersionConflictError
from arco.events import (
    BackfillCreated,
    BackfillState,
    BackfillStateChanged,
    PartitionSelector,
)
from arco.fold.backfills import CHUNK_TERMINAL_STATES
from arco.fold.context import iso
from arco.fold.rows import Doc, Scope
from arco.fold.tables import BACKFILL_CHUNKS, BACKFILL_REQUESTS, BACKFILLS, RUNS
from arco.ids import new_ulid
from arco.partitions import PartitionsDefinition
from arco.services import Accepted, ServiceContext
from arco.storage.aggregates import Totals, group_totals
from arco.storage.partition_status import rows_for_keys
from arco.storage.reader import Page, ProjectionReader, Query

PartitionsLookup = Mapping[str, PartitionsDefinition | None]
CHUNK_STATES = ("planned", "succeeded", "failed", "cancelled")


def preview(
    ctx: ServiceContext,
    partitions: PartitionsLookup,
    asset_selection: Sequence[str],
    selector: PartitionSelector,
    chunk_size: int,
) -> BackfillPreview:
    """Count partitions and chunks and show the first chunk's keys; writes nothing."""
    definition = definition_for(partitions, asset_selection)
    return controller.preview(definition, selector, chunk_size, ctx.clock.now())


def create(
    ctx: ServiceContext,
    partitions: PartitionsLookup,
    *,
    asset_selection: Sequence[str],
    selector: PartitionSelector,
    chunk_size: int,
    max_concurrent_runs: int | None = None,
    tags: Mapping[str, str] | None = None,
    client_request_id: str | None = None,
) -> Accepted:
    """Append BackfillCreated; the same ``client_request_id`` again answers the first one."""
    if client_request_id is not None:
        known = _known_request(ctx, f"client:{client_request_id}")
        if known is not None:
            return known
    definition = definition_for(partitions, asset_selection)
    request = BackfillRequest(
        asset_selection=tuple(dict.fromkeys(asset_selection)),
        selector=selector,
        chunk_size=chunk_size,
        max_concurrent_runs=max_concurrent_runs,
        tags=dict(tags or {}),
        client_request_id=client_request_id,
        created_by=ctx.actor,
    )
    backfill_id = new_ulid()
    event = controller.create(ctx.scope, backfill_id, request, definition, ctx.clock.now())
    return ctx.accept([event], resource_id=backfill_id)


def get(ctx: ServiceContext, backfill_id: str) -> Doc:
    """The backfill row with its progress counters and display state."""
    doc = _doc(ctx, backfill_id)
    totals = group_totals(
        ctx.reader.engine,
        BACKFILL_CHUNKS,
        ctx.scope,
        by=("state",),
        where={"backfill_id": backfill_id},
        sum_of="partition_count",
    )
    return present(doc, {str(key[0]): value for key, value in totals.items()})


def list_backfills(
    ctx: ServiceContext,
    *,
    state: BackfillState | str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    cursor: str | None = None,
    limit: int = 100,
) -> Page:
    """Backfills newest first, filtered by state and creation time, with their counters."""
    where: dict[str, object] = {}
    if state is not None:
        where["state"] = _state(state).value
    ranges = {"created_at": (_bound("since", since), _bound("until", until))}
    query = Query(where=where, ranges=ranges, order_by="created_at", descending=True)
    page = ctx.reader.page(BACKFILLS, ctx.scope, query, cursor=cursor, limit=limit)
    ids = [str(doc["backfill_id"]) for doc in page.items]
    totals = group_totals(
        ctx.reader.engine,
        BACKFILL_CHUNKS,
        ctx.scope,
        by=("backfill_id", "state"),
        where_in=("backfill_id", ids),
        sum_of="partition_count",
    )
    by_backfill: dict[str, dict[str, Totals]] = {}
    for (backfill_id, chunk_state), value in totals.items():
        by_backfill.setdefault(str(backfill_id), {})[str(chunk_state)] = value
    items = [present(doc, by_backfill.get(str(doc["backfill_id"]), {})) for doc in page.items]
    return Page(items, page.next_cursor)


def list_chunks(
    ctx: ServiceContext,
    backfill_id: str,
    *,
    state: str | None = None,
    cursor: str | None = None,
    limit: int = 100,
) -> Page:
    """Chunks in index order; an unfinished chunk whose run has started shows ``running``."""
    _doc(ctx, backfill_id)
    where: dict[str, object] = {"backfill_id": backfill_id}
    if state is not None:
        if state not in CHUNK_STATES:
            raise ValidationError(
                f"unknown chunk state {state!r}", field="state", value=state, allowed=CHUNK_STATES
            )
        where["state"] = state
    query = Query(where=where, order_by="chunk_index")
    page = ctx.reader.page(BACKFILL_CHUNKS, ctx.scope, query, cursor=cursor, limit=limit)
    items = [_chunk_display(ctx.reader, ctx.scope, chunk) for chunk in page.items]
    return Page(items, page.next_cursor)


def pause(
    ctx: ServiceContext, backfill_id: str, expected_state_version: int, reason: str | None = None
) -> Accepted:
    """RUNNING/PENDING → PAUSED: nothing new is planned, active chunks finish."""
    return _request(ctx, backfill_id, "pause", expected_state_version, reason)


def resume(
    ctx: ServiceContext, backfill_id: str, expected_state_version: int, reason: str | None = None
) -> Accepted:
    """PAUSED → RUNNING: planning continues where it stopped."""
    return _request(ctx, backfill_id, "resume", expected_state_version, reason)


def cancel(
    ctx: ServiceContext, backfill_id: str, expected_state_version: int, reason: str | None = None
) -> Accepted:
    """→ CANCELLING: nothing new is planned, active runs are cancelled, then CANCELLED."""
    return _request(ctx, backfill_id, "cancel", expected_state_version, reason)


def retry_failed(ctx: ServiceContext, backfill_id: str, retry_request_id: str) -> Accepted:
    """A new backfill over the parent's failed partitions; idempotent on ``retry_request_id``."""
    known = _known_request(ctx, f"retry:{backfill_id}:{retry_request_id}")
    if known is not None:
        return known
    parent = _view(ctx, backfill_id)
    child_id = new_ulid()
    event = controller.retry_failed(
        parent,
        failed_partitions(ctx, parent),
        backfill_id=child_id,
        retry_request_id=retry_request_id,
        now=ctx.clock.now(),
        created_by=ctx.actor,
    )
    outcome = ctx.append([event])[0]
    if outcome.duplicate:
        # The same retry was appended before and is not folded yet: answer with it.
        original = ctx.event_at(outcome.offset)
        if original is not None and isinstance(original.data, BackfillCreated):
            return Accepted(original.event_id, outcome.offset, True, original.data.backfill_id)
    return Accepted(event.event_id, outcome.offset, outcome.duplicate, child_id)


def failed_partitions(ctx: ServiceContext, parent: BackfillView) -> list[str]:
    """Keys of failed or cancelled chunks that some selected asset has not materialized,
    by the chunk's run or since the chunk was planned (a run may fail after materializing
    part of its keys; those are not run again)."""
    failed: list[str] = []
    for chunk_state in ("failed", "cancelled"):
        query = Query(where={"backfill_id": parent.backfill_id, "state": chunk_state})
        for chunk in ctx.reader.all(BACKFILL_CHUNKS, ctx.scope, query):
            keys = [str(key) for key in cast(list[object], chunk["partition_keys"])]
            done = _materialized(ctx, parent.asset_selection, keys, chunk)
            failed += [key for key in keys if key not in done]
    return failed


def _materialized(
    ctx: ServiceContext, assets: Sequence[str], keys: list[str], chunk: Doc
) -> set[str]:
    """Keys every asset of ``assets`` materialized in the chunk's run or after it was planned."""
    run_id, since = chunk.get("run_id"), str(chunk["planned_at"])
    by_key: dict[str, set[str]] = {}
    for row in rows_for_keys(ctx.reader.engine, ctx.scope, assets, keys):
        at = row.get("last_materialization_at")
        if row.get("last_materialization_run_id") == run_id or (
            isinstance(at, str) and at >= since
        ):
            by_key.setdefault(str(row["partition_key"]), set()).add(str(row["asset_key"]))
    return {key for key, materialized in by_key.items() if materialized >= set(assets)}


def chunk_progress(
    reader: ProjectionReader, scope: Scope, backfill_id: str, *, list_active: bool = False
) -> ChunkProgress:
    """Chunk rows of a backfill counted by state in SQL; active ones listed if asked."""
    totals = group_totals(
        reader.engine, BACKFILL_CHUNKS, scope, by=("state",), where={"backfill_id": backfill_id}
    )
    counts = {str(key[0]): value.count for key, value in totals.items()}
    active_states = [s for s in counts if s not in CHUNK_TERMINAL_STATES]
    active: list[ActiveChunk] = []
    if list_active:
        for chunk_state in active_states:
            query = Query(where={"backfill_id": backfill_id, "state": chunk_state})
            for chunk in reader.all(BACKFILL_CHUNKS, scope, query):
                run_id = chunk.get("run_id")
                run = reader.get(RUNS, scope, run_id) if isinstance(run_id, str) else None
                active.append(
                    ActiveChunk(
                        int(cast(int, chunk["chunk_index"])),
                        run_id if isinstance(run_id, str) else None,
                        None if run is None else str(run.get("state")),
                    )
                )
    return ChunkProgress(
        succeeded=counts.get("succeeded", 0),
        failed=counts.get("failed", 0),
        cancelled=counts.get("cancelled", 0),
        active_count=sum(counts[s] for s in active_states),
        active=tuple(active),
    )


def present(doc: Doc, by_state: Mapping[str, Totals]) -> Doc:
    """A backfill row plus counters (chunks and partitions by state) and its display state."""
    chunks = {state: by_state.get(state, Totals(0)).count for state in CHUNK_TERMINAL_STATES}
    parts = {state: by_state.get(state, Totals(0)).total for state in CHUNK_TERMINAL_STATES}
    planned = sum(value.count for value in by_state.values())
    planned_parts = sum(value.total for value in by_state.values())
    total_chunks = int(cast(int, doc["total_chunks"]))
    total_parts = int(cast(int, doc["total_partitions"]))
    counters = {
        "chunks": {
            "total": total_chunks,
            "planned": planned,
            "not_planned": total_chunks - planned,
            "active": planned - sum(chunks.values()),
            **chunks,
        },
        "partitions": {
            "total": total_parts,
            "planned": planned_parts,
            "not_planned": total_parts - planned_parts,
            "active": planned_parts - sum(parts.values()),
            **parts,
        },
    }
    state = BackfillState(str(doc["state"]))
    return {**doc, "counters": counters, "display_state": display_state(state, chunks["failed"])}


def definition_for(partitions: PartitionsLookup, assets: Sequence[str]) -> PartitionsDefinition:
    """The one partitions definition every asset of ``assets`` shares."""
    if not assets:
        raise ValidationError(
            "a backfill needs at least one asset",
            field="asset_selection",
            allowed=sorted(partitions),
        )
    definitions: list[PartitionsDefinition] = []
    for asset in assets:
        if asset not in partitions:
            raise ValidationError(
                f"unknown asset {asset!r}",
                field="asset_selection",
                value=asset,
                allowed=sorted(partitions),
            )
        definition = partitions[asset]
        if definition is None:
            raise ValidationError(
                f"asset {asset!r} is not partitioned; a backfill needs partitions",
                field="asset_selection",
                value=asset,
                allowed=sorted(k for k, d in partitions.items() if d is not None),
            )
        definitions.append(definition)
    first = definitions[0]
    for asset, definition in zip(assets, definitions, strict=True):
        if definition.to_dict() != first.to_dict():
            raise ValidationError(
                f"asset {asset!r} has other partitions than {assets[0]!r}; "
                "one backfill covers assets that share a partitions definition",
                field="asset_selection",
                value=asset,
                allowed=[
                    a
                    for a, d in zip(assets, definitions, strict=True)
                    if d.to_dict() == first.to_dict()
                ],
            )
    return first


def _request(
    ctx: ServiceContext,
    backfill_id: str,
    action: Action,
    expected_state_version: int,
    reason: str | None,
) -> Accepted:
    view = _view(ctx, backfill_id)
    event = controller.request_transition(
        view, action, expected_state_version, ctx.clock.now(), actor=ctx.actor, reason=reason
    )
    if event is None:  # this very change already happened: a retried request
        return _accepted_existing(ctx, view.last_transition_event_id, backfill_id)
    outcome = ctx.append([event])[0]
    if outcome.duplicate:
        # Another request took this version and is not folded yet.
        stored = ctx.event_at(outcome.offset)
        original = None if stored is None else stored.data
        if (
            isinstance(original, BackfillStateChanged)
            and original.to_state == ACTION_TARGETS[action]
        ):
            return Accepted(stored.event_id if stored else "", outcome.offset, True, backfill_id)
        current = original.to_state.value if isinstance(original, BackfillStateChanged) else None
        raise VersionConflictError(
            f"backfill {backfill_id} changed concurrently (state_version "
            f"{view.state_version + 1}); read it again and retry",
            field="expected_state_version",
            value=expected_state_version,
            allowed=str(view.state_version + 1),
            details={
                "backfill_id": backfill_id,
                "current_state_version": view.state_version + 1,
                "current_state": current,
            },
        )
    return Accepted(event.event_id, outcome.offset, False, backfill_id)


def _known_request(ctx: ServiceContext, request_key: str) -> Accepted | None:
    owner = ctx.reader.get(BACKFILL_REQUESTS, ctx.scope, request_key)
    if owner is None:
        return None
    backfill_id = str(owner["backfill_id"])
    doc = _doc(ctx, backfill_id)
    return _accepted_existing(ctx, _str(doc.get("created_event_id")), backfill_id)


def _accepted_existing(ctx: ServiceContext, event_id: str | None, backfill_id: str) -> Accepted:
    offset = None if event_id is None else ctx.reader.offset_of(ctx.scope, event_id)
    return Accepted(event_id or "", offset or 0, True, backfill_id)


def _chunk_display(reader: ProjectionReader, scope: Scope, chunk: Doc) -> Doc:
    state = str(chunk["state"])
    run_id = chunk.get("run_id")
    shown = state
    if state not in CHUNK_TERMINAL_STATES and isinstance(run_id, str):
        run = reader.get(RUNS, scope, run_id)
        if run is not None and run.get("state") in ("running", "cancelling"):
            shown = "running"
    return {**chunk, "display_state": shown}


def _view(ctx: ServiceContext, backfill_id: str) -> BackfillView:
    return BackfillView.from_doc(ctx.scope, _doc(ctx, backfill_id))


def _doc(ctx: ServiceContext, backfill_id: str) -> Doc:
    doc = ctx.reader.get(BACKFILLS, ctx.scope, backfill_id)
    if doc is None:
        raise NotFoundError(f"no backfill {backfill_id!r}", field="backfill_id", value=backfill_id)
    return doc


def _state(value: BackfillState | str) -> BackfillState:
    try:
        return BackfillState(value)
    except ValueError:
        raise ValidationError(
            f"unknown backfill state {value!r}",
            field="state",
            value=str(value),
            allowed=[s.value for s in BackfillState],
        ) from None


def _bound(name: str, value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValidationError(
            f"{name} must carry a timezone",
            field=name,
            value=value.isoformat(),
            allowed="an ISO 8601 instant with an offset",
        )
    return iso(value)


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None
