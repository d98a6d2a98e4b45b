"""Partition status: what was last materialized, and what happened last time we tried.

Every finished attempt of a task updates ``last_attempt_*``; only a success
updates ``last_materialization_*``, so a failure never erases an earlier
materialization (ADR-026).  ``in_progress`` holds while any attempt for the
partition is dispatched or running; ``active_attempt_ids`` says which.

L2-INV-8: when several runs materialize one partition concurrently, the *latest*
success is the one with the greatest TaskFinished timestamp, and among equal
timestamps the one later in the ledger.  Both are in the ledger, so every replay
picks the same one.  Ordering by time rather than by arrival keeps
``last_materialization_at`` monotonic (staleness compares it with upstream
materializations) and lets a success from an older attempt that reaches the
ledger late never hide a newer materialization.

Only facts the task accepted reach this module: a stale attempt's report or a
redelivered duplicate is stopped by the task state machine first.
"""

from __future__ import annotations

from arco.events.execution import UNPARTITIONED, TaskFinished
from arco.fold.context import FoldContext
from arco.fold.execution_state import as_str, as_strs
from arco.fold.rows import Doc
from arco.fold.tables import PARTITION_STATUS


def status_key(partition_key: str | None) -> str:
    """Unpartitioned assets keep their status under the partition key ``__all__``."""
    return UNPARTITIONED if partition_key is None else partition_key


def status_pk(asset_key: str, partition_key: str | None) -> str:
    return f"{asset_key}|{status_key(partition_key)}"


def _load(ctx: FoldContext, asset_key: str, partition_key: str | None) -> tuple[str, Doc]:
    pk = status_pk(asset_key, partition_key)
    doc = ctx.get(PARTITION_STATUS, pk)
    if doc is None:
        doc = {
            "asset_key": asset_key,
            "partition_key": status_key(partition_key),
            "in_progress": False,
            "active_attempt_ids": [],
            "last_attempt_outcome": None,
            "last_attempt_at": None,
            "last_attempt_run_id": None,
            "last_attempt_id": None,
            "last_attempt_error": None,
            "last_materialization_run_id": None,
            "last_materialization_at": None,
            "last_materialization_code_version": None,
            "last_materialization_attempt_id": None,
            "last_materialization_event_id": None,
            "last_materialization_metadata": None,
        }
    return pk, doc


def _set_active(doc: Doc, active: set[str]) -> None:
    doc["active_attempt_ids"] = sorted(active)
    doc["in_progress"] = bool(active)


def claim(ctx: FoldContext, task: Doc, attempt_id: str) -> None:
    """An attempt for this partition was dispatched."""
    pk, doc = _load(ctx, str(task["asset_key"]), as_str(task, "partition_key"))
    _set_active(doc, {*as_strs(doc, "active_attempt_ids"), attempt_id})
    ctx.put(PARTITION_STATUS, pk, doc)


def release(ctx: FoldContext, task: Doc, attempt_id: str) -> None:
    """An attempt ended without a report (abandoned or cancelled before it started)."""
    pk, doc = _load(ctx, str(task["asset_key"]), as_str(task, "partition_key"))
    _set_active(doc, set(as_strs(doc, "active_attempt_ids")) - {attempt_id})
    ctx.put(PARTITION_STATUS, pk, doc)


def record_finished(ctx: FoldContext, task: Doc, data: TaskFinished) -> None:
    """An accepted TaskFinished: always the last attempt, a materialization only on success."""
    pk, doc = _load(ctx, str(task["asset_key"]), as_str(task, "partition_key"))
    _set_active(doc, set(as_strs(doc, "active_attempt_ids")) - {data.attempt_id})
    doc["last_attempt_outcome"] = data.outcome
    doc["last_attempt_at"] = ctx.at
    doc["last_attempt_run_id"] = data.run_id
    doc["last_attempt_id"] = data.attempt_id
    doc["last_attempt_error"] = None if data.error is None else data.error.model_dump(mode="json")
    if data.outcome == "succeeded" and _is_latest(doc, ctx.at):
        doc["last_materialization_run_id"] = data.run_id
        doc["last_materialization_at"] = ctx.at
        doc["last_materialization_code_version"] = data.code_version or as_str(task, "code_version")
        doc["last_materialization_attempt_id"] = data.attempt_id
        doc["last_materialization_event_id"] = ctx.event.event_id
        doc["last_materialization_metadata"] = dict(data.metadata)
    ctx.put(PARTITION_STATUS, pk, doc)


def _is_latest(doc: Doc, at: str) -> bool:
    """At or after the recorded materialization (the fold runs in ledger order, so ties go later)."""
    recorded = as_str(doc, "last_materialization_at")
    return recorded is None or at >= recorded
