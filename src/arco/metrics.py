"""Prometheus metrics for every automation path (DESIGN §6)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

SCHEDULE_TICKS = Counter(
    "arco_schedule_ticks_total", "Schedule ticks recorded, by status", ["status"]
)
TICK_DELAY = Histogram(
    "arco_schedule_tick_delay_seconds",
    "Scheduled time to ScheduleTicked appended",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300),
)
SENSOR_EVALS = Counter(
    "arco_sensor_evaluations_total", "Sensor evaluations, by kind and status", ["kind", "status"]
)
BACKFILL_CHUNKS = Counter("arco_backfill_chunks_total", "Backfill chunks by status", ["status"])
RUN_REQUESTS = Counter(
    "arco_run_requests_total", "RunRequested events appended, by source", ["source"]
)
RUN_KEY_CONFLICTS = Counter(
    "arco_run_key_conflicts_total", "Run requests whose key was taken by another fingerprint"
)
EVENTS_APPENDED = Counter(
    "arco_ledger_events_appended_total", "Events appended to the ledger, by outcome", ["outcome"]
)
EVENTS_FOLDED = Counter("arco_compactor_events_folded_total", "Events folded into projections")
UNKNOWN_EVENTS = Counter(
    "arco_compactor_unknown_events_total", "Events of unknown type skipped by the fold"
)
COMPACTION_LAG = Gauge("arco_compaction_lag_events", "Ledger head minus the compactor watermark")
CONTROLLER_ERRORS = Counter(
    "arco_controller_errors_total", "Failures isolated by a controller loop", ["controller"]
)
API_REQUESTS = Histogram(
    "arco_api_request_seconds",
    "API request latency by method, route and status",
    ["method", "route", "status"],
)
