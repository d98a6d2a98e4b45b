"""The projection tables the fold writes, declared as data.

Every projection row is ``(tenant_id, workspace_id, pk) -> doc`` with a
``row_version`` (the id of the event that last changed it).  ``columns`` are
copied out of ``doc`` into real columns so that reads can filter, sort and
aggregate in SQL; the doc stays the source of truth for the digest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ColumnType = Literal["text", "int", "float", "bool"]


@dataclass(frozen=True)
class ProjectionTable:
    name: str
    columns: tuple[tuple[str, ColumnType], ...] = ()
    indexes: tuple[tuple[str, ...], ...] = ()


RUNS = ProjectionTable(
    "runs",
    columns=(
        ("run_key", "text"),
        ("state", "text"),
        ("source_kind", "text"),
        ("requested_at", "text"),
    ),
    indexes=(("state",), ("requested_at",)),
)
RUN_KEY_INDEX = ProjectionTable("run_key_index", columns=(("run_id", "text"),))
RUN_KEY_CONFLICTS = ProjectionTable(
    "run_key_conflicts", columns=(("run_key", "text"), ("detected_at", "text"))
)
SCHEDULE_DEFINITIONS = ProjectionTable(
    "schedule_definitions", columns=(("name", "text"), ("enabled", "bool")), indexes=(("name",),)
)
SCHEDULE_STATE = ProjectionTable("schedule_state")
SCHEDULE_TICKS = ProjectionTable(
    "schedule_ticks",
    columns=(("schedule_id", "text"), ("scheduled_epoch", "int"), ("status", "text")),
    indexes=(("schedule_id", "scheduled_epoch"),),
)
SENSOR_DEFINITIONS = ProjectionTable(
    "sensor_definitions",
    columns=(("name", "text"), ("kind", "text"), ("enabled", "bool")),
    indexes=(("name",),),
)
SENSOR_STATE = ProjectionTable("sensor_state")
SENSOR_EVALS = ProjectionTable(
    "sensor_evals",
    columns=(("sensor_id", "text"), ("status", "text"), ("evaluated_at", "text")),
    indexes=(("sensor_id", "evaluated_at"),),
)
BACKFILLS = ProjectionTable(
    "backfills",
    columns=(("state", "text"), ("created_at", "text")),
    indexes=(("created_at",), ("state", "created_at")),
)
BACKFILL_CHUNKS = ProjectionTable(
    "backfill_chunks",
    columns=(
        ("backfill_id", "text"),
        ("chunk_index", "int"),
        ("state", "text"),
        ("partition_count", "int"),
    ),
    indexes=(("backfill_id", "chunk_index"), ("backfill_id", "state")),
)
# Which backfill a client_request_id or a retry_request_id created (the fold keeps the first).
BACKFILL_REQUESTS = ProjectionTable("backfill_requests", columns=(("backfill_id", "text"),))
PARTITION_STATUS = ProjectionTable(
    "partition_status",
    columns=(
        ("asset_key", "text"),
        ("partition_key", "text"),
        ("last_materialization_at", "text"),
        ("last_materialization_code_version", "text"),
        ("last_attempt_outcome", "text"),
        ("last_attempt_at", "text"),
        ("in_progress", "bool"),
    ),
    # Covering for the per-asset status summary (one index-only scan for 100k partitions)
    # and for the "newer upstream materialization" lookup by (asset, key).
    indexes=(
        (
            "asset_key",
            "partition_key",
            "last_materialization_at",
            "in_progress",
            "last_attempt_outcome",
            "last_materialization_code_version",
        ),
    ),
)
TASKS = ProjectionTable(
    "tasks",
    columns=(
        ("run_id", "text"),
        ("state", "text"),
        ("attempt_id", "text"),
        ("task_index", "int"),
        ("asset_key", "text"),
        ("partition_key", "text"),
        ("ready_at", "text"),
    ),
    indexes=(("run_id", "task_index"), ("state", "ready_at")),
)
RUN_PLANS = ProjectionTable("run_plans")
TIMERS = ProjectionTable(
    "timers",
    columns=(("state", "text"), ("fire_at_epoch_ms", "int")),
    indexes=(("state", "fire_at_epoch_ms"),),
)

ALL_TABLES: tuple[ProjectionTable, ...] = (
    RUNS,
    RUN_KEY_INDEX,
    RUN_KEY_CONFLICTS,
    SCHEDULE_DEFINITIONS,
    SCHEDULE_STATE,
    SCHEDULE_TICKS,
    SENSOR_DEFINITIONS,
    SENSOR_STATE,
    SENSOR_EVALS,
    BACKFILLS,
    BACKFILL_CHUNKS,
    BACKFILL_REQUESTS,
    PARTITION_STATUS,
    TASKS,
    RUN_PLANS,
    TIMERS,
)
TABLES_BY_NAME = {table.name: table for table in ALL_TABLES}
