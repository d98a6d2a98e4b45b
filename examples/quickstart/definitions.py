"""Arco quickstart: two daily-partitioned assets, a schedule, a folder sensor, a push sensor.

Run it locally with ``arco dev -f examples/quickstart/definitions.py``.  Asset code is
fast and deterministic: ``raw_events`` generates a day's events from the date alone and
``daily_summary`` counts them, both writing JSON files under ``$ARCO_DATA_DIR/quickstart``
(``.arco/quickstart`` by default).

* ``daily_refresh`` fires at 02:30 New York time and materializes yesterday's partition.
* ``incoming_files`` watches ``quickstart/incoming`` for files named ``YYYY-MM-DD*.json``;
  its cursor is the (mtime, name) of the newest file seen, so each file triggers once.
* ``events_pushed`` is a push sensor: POST a Pub/Sub-style message whose data is
  ``{"date": "2024-01-05"}`` and that day's partitions are materialized.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

from arco import (
    AssetExecutionContext,
    DailyPartitionsDefinition,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    Definitions,
    FreshnessPolicy,
    MaterializeResult,
    RetryPolicy,
    RunRequest,
    ScheduleDefinition,
    SensorEvaluationContext,
    SensorResult,
    asset,
    push_sensor,
    sensor,
)

DAILY = DailyPartitionsDefinition(start_date="2024-01-01")
EVENT_TYPES = ("click", "view", "purchase")
FILE_NAME = re.compile(r"^(\d{4}-\d{2}-\d{2}).*\.json$")


def data_dir() -> Path:
    """Where the assets write (read at run time, so tests can point it elsewhere)."""
    return Path(os.environ.get("ARCO_DATA_DIR", ".arco")) / "quickstart"


@asset(partitions_def=DAILY, code_version="1")
def raw_events(context: AssetExecutionContext) -> MaterializeResult:
    """A day of synthetic events, the same every time for the same day."""
    day = context.partition_key or ""
    seed = hashlib.sha256(day.encode()).digest()
    events = [
        {"id": f"{day}-{i}", "type": EVENT_TYPES[seed[i % len(seed)] % len(EVENT_TYPES)]}
        for i in range(20 + seed[0] % 30)
    ]
    path = data_dir() / "raw_events" / f"{day}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(event) + "\n" for event in events))
    context.log.info("wrote %d events to %s", len(events), path)
    return MaterializeResult(metadata={"rows": len(events), "path": str(path)})


@asset(
    deps=[raw_events],
    partitions_def=DAILY,
    code_version="1",
    freshness_policy=FreshnessPolicy(maximum_lag_minutes=36 * 60),
    retry_policy=RetryPolicy(max_retries=2, delay=5, backoff="exponential"),
)
def daily_summary(context: AssetExecutionContext) -> MaterializeResult:
    """Events per type for the day, read from raw_events' file."""
    day = context.partition_key or ""
    source = data_dir() / "raw_events" / f"{day}.jsonl"
    counts = dict.fromkeys(EVENT_TYPES, 0)
    for line in source.read_text().splitlines():
        counts[json.loads(line)["type"]] += 1
    path = data_dir() / "daily_summary" / f"{day}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"date": day, "counts": counts}, sort_keys=True))
    return MaterializeResult(metadata={"total": sum(counts.values()), **counts})


daily_refresh = ScheduleDefinition(
    name="daily_refresh",
    cron_schedule="30 2 * * *",
    execution_timezone="America/New_York",
    target=[raw_events, daily_summary],
    default_status=DefaultScheduleStatus.RUNNING,
)


def _new_files(after: tuple[int, str]) -> Iterator[tuple[int, str]]:
    incoming = data_dir() / "incoming"
    if not incoming.is_dir():
        return
    found = sorted((p.stat().st_mtime_ns, p.name) for p in incoming.iterdir() if p.is_file())
    yield from (item for item in found if item > after and FILE_NAME.match(item[1]))


@sensor(
    asset_selection=[raw_events, daily_summary],
    minimum_interval_seconds=30,
    default_status=DefaultSensorStatus.RUNNING,
)
def incoming_files(context: SensorEvaluationContext) -> SensorResult:
    """One run per new file in ``incoming/``, for the day its name starts with."""
    mtime_ns, name = json.loads(context.cursor) if context.cursor else (0, "")
    last: tuple[int, str] = (int(mtime_ns), str(name))
    requests = []
    for seen in _new_files(last):
        match = FILE_NAME.match(seen[1])
        assert match is not None
        requests.append(
            RunRequest(run_key=f"file:{seen[1]}:{seen[0]}", partition_key=match.group(1))
        )
        last = seen
    return SensorResult(run_requests=requests, cursor=json.dumps(list(last)))


@push_sensor(
    asset_selection=[raw_events, daily_summary], default_status=DefaultSensorStatus.RUNNING
)
def events_pushed(context: SensorEvaluationContext) -> RunRequest:
    """A message ``{"date": "YYYY-MM-DD"}`` materializes that day (run key: the message id)."""
    return RunRequest(partition_key=str(context.message.json()["date"]))


defs = Definitions(
    assets=[raw_events, daily_summary],
    schedules=[daily_refresh],
    sensors=[incoming_files, events_pushed],
)
