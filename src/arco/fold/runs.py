"""RunRequested → run-key index, runs, conflicts, and correlation back to the source.

The run key is the unit of dedup: the first request for a key creates the run,
a later request with the same fingerprint changes nothing, and one with another
fingerprint is recorded as a conflict without creating anything (L2-INV-4/5).
"""

from __future__ import annotations

from collections.abc import Iterator

from arco.events import (
    BackfillSource,
    RunRequested,
    ScheduleSource,
    SensorSource,
    SourceRef,
)
from arco.fold.context import FoldContext, Handler, Prefetch
from arco.fold.tables import (
    BACKFILL_CHUNKS,
    RUN_KEY_CONFLICTS,
    RUN_KEY_INDEX,
    RUNS,
    SCHEDULE_TICKS,
    SENSOR_EVALS,
    ProjectionTable,
)

STALE_EVAL_STATUS = "skipped_stale_cursor"


def on_run_requested(ctx: FoldContext, data: RunRequested) -> None:
    if _decided_by_its_evaluation(ctx, data.source):
        return
    request_run(ctx, data)


def request_run(ctx: FoldContext, data: RunRequested) -> None:
    """Index the run key and create the run, or record a conflict (no source checks)."""
    indexed = ctx.get(RUN_KEY_INDEX, data.run_key)
    if indexed is None:
        _create_run(ctx, data)
    elif indexed["request_fingerprint"] != data.request_fingerprint:
        _record_conflict(ctx, data, indexed)


def _decided_by_its_evaluation(ctx: FoldContext, source: SourceRef) -> bool:
    """A sensor's run requests take effect through their evaluation, never on their own.

    fold/sensors.py creates an accepted evaluation's runs from the copy the evaluation
    carries and none for one dropped by the cursor CAS (``skipped_stale_cursor``), so a
    RunRequested whose evaluation is folded changes nothing: not when the CAS dropped
    it, and not when it rides along a redelivered evaluation (same push message, or
    same poll cursor and epoch) asking for keys the folded evaluation never asked for.
    """
    if not isinstance(source, SensorSource):
        return False
    return ctx.get(SENSOR_EVALS, source.eval_id) is not None


def _create_run(ctx: FoldContext, data: RunRequested) -> None:
    source = data.source.model_dump(mode="json")
    ctx.put(
        RUN_KEY_INDEX,
        data.run_key,
        {
            "run_key": data.run_key,
            "run_id": data.run_id,
            "request_fingerprint": data.request_fingerprint,
            "source": source,
            "indexed_at": ctx.at,
        },
    )
    ctx.put(
        RUNS,
        data.run_id,
        {
            "run_id": data.run_id,
            "run_key": data.run_key,
            "state": "queued",
            "request_fingerprint": data.request_fingerprint,
            "asset_selection": list(data.asset_selection),
            "partition_selection": (
                None
                if data.partition_selection is None
                else data.partition_selection.model_dump(mode="json")
            ),
            "tags": data.tags,
            "source": source,
            "source_kind": data.source.kind,
            "requested_at": ctx.at,
            "requested_event_id": ctx.event.event_id,
        },
    )
    _correlate(ctx, data.source, data.run_id)


def _record_conflict(ctx: FoldContext, data: RunRequested, indexed: dict[str, object]) -> None:
    pk = f"{data.run_key}:{data.request_fingerprint}"
    if ctx.get(RUN_KEY_CONFLICTS, pk) is not None:
        return
    ctx.put(
        RUN_KEY_CONFLICTS,
        pk,
        {
            "run_key": data.run_key,
            "existing_run_id": indexed["run_id"],
            "existing_fingerprint": indexed["request_fingerprint"],
            "conflicting_fingerprint": data.request_fingerprint,
            "conflicting_source": data.source.model_dump(mode="json"),
            "conflicting_event_id": ctx.event.event_id,
            "detected_at": ctx.at,
        },
    )


def _correlate(ctx: FoldContext, source: SourceRef, run_id: str) -> None:
    """Write the run id back onto the tick, evaluation or chunk that asked for it."""
    if isinstance(source, ScheduleSource):
        tick = ctx.get(SCHEDULE_TICKS, source.tick_id)
        if tick is not None:
            ctx.put(SCHEDULE_TICKS, source.tick_id, {**tick, "run_id": run_id})
    elif isinstance(source, SensorSource):
        evaluation = ctx.get(SENSOR_EVALS, source.eval_id)
        if evaluation is not None:
            run_ids = sorted({*evaluation.get("run_ids", []), run_id})  # type: ignore[misc]
            ctx.put(SENSOR_EVALS, source.eval_id, {**evaluation, "run_ids": run_ids})
    elif isinstance(source, BackfillSource):
        pk = chunk_pk(source.backfill_id, source.chunk_index)
        chunk = ctx.get(BACKFILL_CHUNKS, pk)
        if chunk is not None:
            ctx.put(BACKFILL_CHUNKS, pk, {**chunk, "run_id": run_id})


def chunk_pk(backfill_id: str, chunk_index: int) -> str:
    """Chunk rows sort by index within a backfill."""
    return f"{backfill_id}:{chunk_index:09d}"


def rows_for_run_requested(data: RunRequested) -> Iterator[tuple[ProjectionTable, str]]:
    yield RUN_KEY_INDEX, data.run_key
    yield RUNS, data.run_id
    yield RUN_KEY_CONFLICTS, f"{data.run_key}:{data.request_fingerprint}"
    source = data.source
    if isinstance(source, ScheduleSource):
        yield SCHEDULE_TICKS, source.tick_id
    elif isinstance(source, SensorSource):
        yield SENSOR_EVALS, source.eval_id
    elif isinstance(source, BackfillSource):
        yield BACKFILL_CHUNKS, chunk_pk(source.backfill_id, source.chunk_index)


HANDLERS: dict[str, Handler] = {"RunRequested": on_run_requested}
PREFETCH: dict[str, Prefetch] = {"RunRequested": rows_for_run_requested}
