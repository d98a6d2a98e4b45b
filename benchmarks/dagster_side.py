"""The Dagster half of benchmarks/dagster_compare.py; runs in .venv-dagster, prints JSON.

    .venv-dagster/bin/python benchmarks/dagster_side.py WORKLOAD --size N
        [--backend sqlite|postgres] [--postgres-url URL] [--batch 500] [--reads 50] [--series 3]

Imports only dagster (and psycopg2, which dagster-postgres brings, to create and drop
the scratch database). Every invocation gets a fresh instance: a temporary directory
with the default SQLite storage (what ``dagster dev`` uses: run-sharded event log), or a
new PostgreSQL database ``dagster_bench_<hex>`` on the given server, dropped afterwards.
The instance uses the QueuedRunCoordinator, as a daemon deployment does.

Workloads (what is timed, exactly):

* ``record`` -- ``--size`` partition materializations of one asset. ``--batch 1``: one
  public ``instance.report_runless_asset_event(AssetMaterialization(asset_key,
  partition=key))`` per materialization (event log row + asset index, one transaction
  each). ``--batch B``: ``instance.event_log_storage.store_event_batch`` with B prebuilt
  EventLogEntry objects per call -- an internal API (the opt-in path behind
  DAGSTER_EVENT_BATCH_SIZE); Dagster's PostgreSQL storage inserts such a batch in one
  statement, its SQLite storage loops over ``store_event``.
* ``runs`` -- the per-run work of a backfill of ``--size`` partitions of a daily
  partitioned asset job, one run per partition: ``instance.create_run_for_job`` with the
  partition and backfill tags (builds the partition's execution plan, stores the run and
  its ASSET_MATERIALIZATION_PLANNED event) followed by ``QueuedRunCoordinator.submit_run``
  (RUN_ENQUEUED event, status QUEUED). The coordinator call is internal API (the public
  ``instance.submit_run`` needs a code-server workspace). Not timed: what the asset
  backfill daemon does around it (partition-subset bookkeeping, gRPC round trips to the
  code server for the execution plan), so this is a lower bound on Dagster's cost.
* ``status`` -- an hourly asset with ``--size`` partitions, seeded like Arco's fixture in
  benchmarks/backfill.py: of the first 90% of partitions, 9 in 10 materialized (stored with
  ``store_event_batch``, 1,000 per call), 2 in 10 with a later ASSET_MATERIALIZATION_PLANNED
  event of a FAILURE run (failed) and 1 in 10 with one of a STARTED run (in progress),
  reported one at a time with ``instance.report_dagster_event``. Seeding is timed apart.
  Then, after one untimed read that builds the cache, ``--series`` series of ``--reads``
  reads of the asset status cache the Dagster UI reads (internal API:
  ``get_and_update_asset_status_cache_value``, then deserializing the materialized /
  failed / in-progress subsets and counting them, like Arco's summary), and as many calls
  of the public ``instance.get_materialized_partitions(asset_key)``; p50/p95 per series,
  median over the series.

Dagster's storages open a new database connection per operation (SQLAlchemy NullPool,
their default); that is part of what is measured.
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import dagster
from dagster import (
    AssetKey,
    AssetMaterialization,
    DagsterInstance,
    DagsterRun,
    DagsterRunStatus,
    DailyPartitionsDefinition,
    Definitions,
    HourlyPartitionsDefinition,
    asset,
    define_asset_job,
)

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
QUEUED = {"module": "dagster._core.run_coordinator", "class": "QueuedRunCoordinator"}
HOURLY_START = datetime(2010, 1, 1)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))]


def daily_keys(count: int) -> list[str]:
    """The first ``count`` keys of a daily partitioning from 1700-01-01."""
    first = datetime(1700, 1, 1)
    return [(first + timedelta(days=i)).strftime("%Y-%m-%d") for i in range(count)]


# --- instances -----------------------------------------------------------------------------


def _with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    # SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3; dagster-postgres brings psycopg2.
    return urlunsplit(parts._replace(scheme="postgresql+psycopg2", path="/" + database))


@contextmanager
def _scratch_database(server_url: str) -> Iterator[str]:
    import psycopg2  # dagster-postgres depends on it

    name = "dagster_bench_" + secrets.token_hex(4)
    admin = psycopg2.connect(server_url)
    admin.autocommit = True
    try:
        with admin.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
        yield _with_database(server_url, name)
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@contextmanager
def fresh_instance(backend: str, server_url: str) -> Iterator[DagsterInstance]:
    with tempfile.TemporaryDirectory() as home:
        config: dict[str, object] = {"run_coordinator": QUEUED, "telemetry": {"enabled": False}}
        if backend == "sqlite":
            yield _open(home, config)
            return
        with _scratch_database(server_url) as url:
            config["storage"] = {"postgres": {"postgres_url": url}}
            yield _open(home, config)


def _open(home: str, config: dict[str, object]) -> DagsterInstance:
    # JSON is YAML, so no YAML library is needed to write dagster.yaml.
    (Path(home) / "dagster.yaml").write_text(json.dumps(config))
    return DagsterInstance.from_config(home)


def _closing(instance: DagsterInstance, body: Callable[[], dict[str, object]]) -> dict[str, object]:
    try:
        return body()
    finally:
        instance.dispose()


# --- 1. record materializations ------------------------------------------------------------


def record(instance: DagsterInstance, size: int, batch: int) -> dict[str, object]:
    keys = daily_keys(size)
    key = AssetKey("raw")
    if batch == 1:
        started = time.perf_counter()
        for partition in keys:
            instance.report_runless_asset_event(AssetMaterialization(key, partition=partition))
        elapsed = time.perf_counter() - started
        how = "report_runless_asset_event, one per call"
    else:
        entries = [_materialization_entry(key, partition) for partition in keys]
        storage = instance.event_log_storage
        started = time.perf_counter()
        for start in range(0, size, batch):
            storage.store_event_batch(entries[start : start + batch])
        elapsed = time.perf_counter() - started
        how = f"event_log_storage.store_event_batch, {batch} per call (internal API)"
    stored = len(instance.get_materialized_partitions(key))
    assert stored == size, (stored, size)
    return {"events_per_s": size / elapsed, "seconds": elapsed, "how": how}


def _materialization_entry(key: AssetKey, partition: str) -> object:
    """A runless materialization as the event log stores it (internal classes)."""
    from dagster._core.events import DagsterEvent, DagsterEventType, StepMaterializationData
    from dagster._core.events.log import EventLogEntry
    from dagster._core.instance.utils import RUNLESS_JOB_NAME, RUNLESS_RUN_ID

    event = DagsterEvent(
        event_type_value=DagsterEventType.ASSET_MATERIALIZATION.value,
        event_specific_data=StepMaterializationData(AssetMaterialization(key, partition=partition)),
        job_name=RUNLESS_JOB_NAME,
    )
    return EventLogEntry(
        user_message="",
        level=20,
        job_name=RUNLESS_JOB_NAME,
        run_id=RUNLESS_RUN_ID,
        error_info=None,
        timestamp=time.time(),
        step_key=None,
        dagster_event=event,
    )


# --- 2. backfill run creation --------------------------------------------------------------


def runs(instance: DagsterInstance, size: int) -> dict[str, object]:
    from dagster._core.run_coordinator import SubmitRunContext

    daily = DailyPartitionsDefinition(start_date="1700-01-01")

    @asset(partitions_def=daily)
    def raw() -> None:
        return None

    defs = Definitions(assets=[raw], jobs=[define_asset_job("raw_job", [raw])])
    job = defs.resolve_job_def("raw_job")
    keys = daily_keys(size)
    backfill_id = secrets.token_hex(4)
    origin = _job_origin("raw_job")
    coordinator = instance.run_coordinator
    started = time.perf_counter()
    for partition in keys:
        run = instance.create_run_for_job(
            job,
            status=DagsterRunStatus.NOT_STARTED,
            tags={"dagster/partition": partition, "dagster/backfill": backfill_id},
            remote_job_origin=origin,
        )
        coordinator.submit_run(SubmitRunContext(run, workspace=None))  # type: ignore[arg-type]
    elapsed = time.perf_counter() - started
    queued = instance.get_runs_count(
        dagster.RunsFilter(
            statuses=[DagsterRunStatus.QUEUED], tags={"dagster/backfill": backfill_id}
        )
    )
    assert queued == size, (queued, size)
    return {"runs_per_s": size / elapsed, "seconds": elapsed}


def _job_origin(job_name: str) -> object:
    """Where the daemon would load the job from; a queued run must name one (internal)."""
    from dagster._core.remote_origin import InProcessCodeLocationOrigin, RemoteRepositoryOrigin
    from dagster._core.types.loadable_target_origin import LoadableTargetOrigin

    target = LoadableTargetOrigin(python_file=__file__, attribute="defs")
    location = InProcessCodeLocationOrigin(target, location_name="bench")
    return RemoteRepositoryOrigin(location, "__repository__").get_job_origin(job_name)


# --- 3. partition status of a big asset ----------------------------------------------------


def status(
    instance: DagsterInstance, size: int, reads: int, series: int, batch: int
) -> dict[str, object]:
    from dagster._core.events import (
        AssetMaterializationPlannedData,
        DagsterEvent,
        DagsterEventType,
    )
    from dagster._core.storage.partition_status_cache import (
        get_and_update_asset_status_cache_value,
    )

    end = HOURLY_START + timedelta(hours=size)
    hourly = HourlyPartitionsDefinition(
        start_date=HOURLY_START.strftime("%Y-%m-%d-%H:%M"), end_date=end.strftime("%Y-%m-%d-%H:%M")
    )
    keys = hourly.get_partition_keys()
    assert len(keys) == size, len(keys)
    key = AssetKey("events")
    seeded = int(size * 0.9)
    kinds = [(i % 10, keys[i]) for i in range(seeded)]

    started = time.perf_counter()
    entries = [_materialization_entry(key, p) for kind, p in kinds if kind != 4]
    for start in range(0, len(entries), batch):
        instance.event_log_storage.store_event_batch(entries[start : start + batch])
    planned = {
        DagsterRunStatus.FAILURE: [p for kind, p in kinds if kind in (1, 4)],
        DagsterRunStatus.STARTED: [p for kind, p in kinds if kind == 0],
    }
    for run_status, partitions in planned.items():
        run = instance.add_run(
            DagsterRun(job_name="events_job", run_id=str(uuid.uuid4()), status=run_status)
        )
        for partition in partitions:
            instance.report_dagster_event(
                DagsterEvent(
                    event_type_value=DagsterEventType.ASSET_MATERIALIZATION_PLANNED.value,
                    job_name="events_job",
                    event_specific_data=AssetMaterializationPlannedData(key, partition=partition),
                ),
                run_id=run.run_id,
            )
    seed_seconds = time.perf_counter() - started
    seeded_events = len(entries) + sum(len(p) for p in planned.values())

    def summary() -> dict[str, int]:
        value = get_and_update_asset_status_cache_value(instance, key, hourly)
        assert value is not None
        return {
            "total": hourly.get_num_partitions(),
            "materialized": len(value.deserialize_materialized_partition_subsets(hourly)),
            "failed": len(value.deserialize_failed_partition_subsets(hourly)),
            "in_progress": len(value.deserialize_in_progress_partition_subsets(hourly)),
        }

    started = time.perf_counter()
    counts = summary()  # builds the cache, as the first UI visit after a deploy would
    cold_ms = (time.perf_counter() - started) * 1000
    cache = [_timed(reads, summary) for _ in range(series)]
    raw = [_timed(reads, lambda: instance.get_materialized_partitions(key)) for _ in range(series)]
    return {
        "seed_events": seeded_events,
        "seed_seconds": seed_seconds,
        "counts": counts,
        "cache_cold_ms": cold_ms,
        "cache_p50_ms": statistics.median(percentile(t, 50) for t in cache),
        "cache_p95_ms": statistics.median(percentile(t, 95) for t in cache),
        "materialized_p50_ms": statistics.median(percentile(t, 50) for t in raw),
        "materialized_p95_ms": statistics.median(percentile(t, 95) for t in raw),
    }


def _timed(reads: int, read: Callable[[], object]) -> list[float]:
    timings = []
    for _ in range(reads):
        started = time.perf_counter()
        read()
        timings.append((time.perf_counter() - started) * 1000)
    return timings


# --- main ----------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("workload", choices=["record", "runs", "status"])
    parser.add_argument("--size", type=int, required=True)
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--reads", type=int, default=50)
    parser.add_argument("--series", type=int, default=1, help="status: series of --reads")
    args = parser.parse_args()
    with fresh_instance(args.backend, args.postgres_url) as instance:
        if args.workload == "record":
            result = _closing(instance, lambda: record(instance, args.size, args.batch))
        elif args.workload == "runs":
            result = _closing(instance, lambda: runs(instance, args.size))
        else:
            batch = max(args.batch, 1000)
            result = _closing(
                instance, lambda: status(instance, args.size, args.reads, args.series, batch)
            )
    result["dagster"] = dagster.__version__
    json.dump(result, sys.stdout)
    print()


if __name__ == "__main__":
    main()
