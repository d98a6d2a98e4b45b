"""Backfill planning, run-request throughput and the partition summary, on SQLite and PostgreSQL.

    .venv/bin/python benchmarks/backfill.py [--runs 3] [--backends sqlite,postgres]

* plan 100k: every chunk of a 100,000-partition daily backfill (chunk size 100, so
  1,000 chunks, no concurrency cap) planned by the runner pass — controller, ledger
  appends, then the compactor folding it all; seconds, and the Python heap peak of
  the pass (tracemalloc, a separate untimed run).
* runs 10k: a 10,000-partition backfill with chunk size 1 and no cap: 10,000 run
  requests appended by the pass and folded into runs; runs/s (target >= 1,000/s).
  Measured on a fresh store, and again on a store holding 20,000 earlier events
  with planner statistics gathered (what a live server looks like).
* flat memory: one planning pass (create, then the pass that plans the first 10
  chunks under ``max_concurrent_runs=10``, chunk size 100) over hourly ranges of
  10,000 and 1,000,000 partitions; Python heap peak of the pass — the same for both,
  since only planned chunks' keys are ever resolved.
* summary 100k: the status summary of an asset with 100,000 hourly partitions
  (90,000 rows, an identity upstream with 9,000 newer materializations); p95 of 50
  reads (target < 200 ms).

PostgreSQL comes from ARCO_BENCH_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432/test),
each run in a fresh schema.
"""

from __future__ import annotations

import argparse
import sys
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from common import fresh_database, header, median_of, percentile, table

from arco.clock import ManualClock
from arco.compactor import Compactor
from arco.events import RangeSelector
from arco.fold.context import iso
from arco.fold.partitions import status_pk
from arco.fold.rows import Doc, Row
from arco.fold.tables import PARTITION_STATUS, RUNS
from arco.ledger import ledger_for
from arco.logs import configure_logging
from arco.partitions import DailyPartitionsDefinition, HourlyPartitionsDefinition
from arco.partitions.status import AssetInfo, Upstream
from arco.runtime.backfill_pass import run_backfill_pass
from arco.runtime.env import RuntimeEnv
from arco.secrets import TenantSecrets
from arco.services import backfills as backfill_service
from arco.services import partitions as partition_service
from arco.storage.database import open_engine, write_transaction
from arco.storage.projections import BatchRows
from support.backfills import SCOPE, service_context
from support.factories import SECRET, TENANT, envelope, run_requested

NOW = datetime(2026, 1, 1, tzinfo=UTC)
HISTORY = 20_000
DAILY = DailyPartitionsDefinition(start_date="1700-01-01")
HOURLY = HourlyPartitionsDefinition(start_date="1900-01-01-00:00")


def _backfill(
    url: str, partitions: int, chunk_size: int, history: int = 0
) -> tuple[RuntimeEnv, Compactor]:
    """A created, folded backfill over the first ``partitions`` days, no concurrency cap.

    ``history`` events appended (and statistics gathered) first stand for a ledger that
    has been live for a while: on a brand-new PostgreSQL schema the planner has no
    statistics and the ledger's idempotency-key lookup scans every key of the scope.
    """
    ledger = ledger_for(open_engine(url))
    if history:
        old = [envelope(run_requested(f"old-{i}"), at=NOW) for i in range(history)]
        for start in range(0, history, 500):
            ledger.append(old[start : start + 500])
        Compactor(ledger).catch_up()
        with ledger.engine.connect() as connection:
            connection.exec_driver_sql("ANALYZE")
            connection.commit()
    clock = ManualClock(NOW)
    ctx = service_context(ledger, clock)
    selector = RangeSelector(start=DAILY.key_at(0), end=DAILY.key_at(partitions - 1))
    backfill_service.create(
        ctx, {"raw": DAILY}, asset_selection=["raw"], selector=selector, chunk_size=chunk_size
    )
    compactor = Compactor(ledger)
    compactor.catch_up()
    env = RuntimeEnv(ledger, ctx.reader, TenantSecrets({TENANT: SECRET}), clock)
    return env, compactor


def plan_and_fold(
    url: str, partitions: int, chunk_size: int, history: int = 0
) -> tuple[float, int]:
    """Seconds to plan every chunk and fold the result; and how many runs exist after."""
    env, compactor = _backfill(url, partitions, chunk_size, history)
    started = time.perf_counter()
    report = run_backfill_pass(env, NOW)
    compactor.catch_up()
    elapsed = time.perf_counter() - started
    assert report.errors == 0
    runs = env.reader.count(RUNS, SCOPE) - history
    env.ledger.engine.dispose()
    return elapsed, runs


def planning_peak(url: str, partitions: int, chunk_size: int) -> float:
    """Python heap peak (MB) of one planning pass."""
    env, _ = _backfill(url, partitions, chunk_size)
    tracemalloc.start()
    run_backfill_pass(env, NOW)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    env.ledger.engine.dispose()
    return peak / 1e6


def capped_planning_peak(url: str, partitions: int) -> tuple[float, float]:
    """(seconds, heap peak MB) of a pass planning the first 10 chunks of an hourly range."""
    ledger = ledger_for(open_engine(url))
    clock = ManualClock(NOW)
    ctx = service_context(ledger, clock)
    selector = RangeSelector(start=HOURLY.key_at(0), end=HOURLY.key_at(partitions - 1))
    backfill_service.create(
        ctx,
        {"raw": HOURLY},
        asset_selection=["raw"],
        selector=selector,
        chunk_size=100,
        max_concurrent_runs=10,
    )
    Compactor(ledger).catch_up()
    env = RuntimeEnv(ledger, ctx.reader, TenantSecrets({TENANT: SECRET}), clock)
    tracemalloc.start()
    started = time.perf_counter()
    report = run_backfill_pass(env, NOW)
    elapsed = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert (report.errors, report.decisions) == (0, 10), report
    ledger.engine.dispose()
    return elapsed, peak / 1e6


def summary_p95(url: str, reads: int = 50) -> tuple[float, float]:
    """(p50, p95) milliseconds of the summary of a 100k-partition asset."""
    engine = open_engine(url)
    end = datetime(2010, 1, 1, tzinfo=UTC) + timedelta(hours=100_000)
    hourly = HourlyPartitionsDefinition(start_date="2010-01-01-00:00", end_date=end)
    fresh, old = iso(NOW - timedelta(hours=1)), iso(NOW - timedelta(days=2))
    docs: list[Doc] = []
    for i, key in enumerate(hourly.iter_keys(0, NOW)):
        if i >= 90_000:
            break
        kind = i % 10
        doc: Doc = {
            "asset_key": "events",
            "partition_key": key,
            "in_progress": kind == 0,
            "last_attempt_outcome": "failed" if kind in (1, 4) else "succeeded",
            "last_materialization_at": None if kind == 4 else (old if kind == 2 else fresh),
            "last_materialization_code_version": "v1" if kind == 3 else "v2",
        }
        docs.append(doc)
        if kind == 5:
            docs.append(
                {"asset_key": "source", "partition_key": key, "last_materialization_at": iso(NOW)}
            )
    with write_transaction(engine) as connection:
        rows = BatchRows(connection, assume_empty=True)
        for doc in docs:
            pk = status_pk(str(doc["asset_key"]), str(doc["partition_key"]))
            rows.put(PARTITION_STATUS.name, SCOPE, pk, Row.of(doc, "01J00000000000000000000000"))
        rows.flush()
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            connection.exec_driver_sql("ANALYZE")
            connection.commit()
    ctx = service_context(ledger_for(engine), ManualClock(NOW))
    asset = AssetInfo(
        "events", hourly, (Upstream("source"),), code_version="v2", maximum_lag=timedelta(days=1)
    )
    partition_service.asset_summary(ctx, asset)  # warm the cache, as a live server would be
    timings = []
    for _ in range(reads):
        started = time.perf_counter()
        summary = partition_service.asset_summary(ctx, asset)
        timings.append((time.perf_counter() - started) * 1000)
    assert summary.total == 100_000
    engine.dispose()
    return percentile(timings, 50), percentile(timings, 95)


def _median(runs: int, backend: str, measure: Callable[[str], float]) -> float:
    def once() -> float:
        with fresh_database(backend) as url:
            return measure(url)

    return median_of(runs, once)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--backends", default="sqlite,postgres")
    args = parser.parse_args()
    configure_logging("WARNING")  # a line per planned chunk would be most of what we time
    rows = []
    for backend in args.backends.split(","):
        plan_seconds = _median(args.runs, backend, lambda url: plan_and_fold(url, 100_000, 100)[0])
        with fresh_database(backend) as url:
            peak = planning_peak(url, 100_000, 100)
        run_seconds = _median(args.runs, backend, lambda url: plan_and_fold(url, 10_000, 1)[0])
        warm_seconds = _median(
            args.runs, backend, lambda url: plan_and_fold(url, 10_000, 1, HISTORY)[0]
        )
        flat = {}
        for size in (10_000, 1_000_000):
            with fresh_database(backend) as url:
                flat[size] = capped_planning_peak(url, size)
        p95s = []
        p50s = []
        for _ in range(args.runs):
            with fresh_database(backend) as url:
                p50, p95 = summary_p95(url)
            p50s.append(p50)
            p95s.append(p95)
        rows.append(
            [
                backend,
                f"{plan_seconds:.2f} s",
                f"{peak:.1f} MB",
                f"{10_000 / run_seconds:,.0f} runs/s",
                f"{10_000 / warm_seconds:,.0f} runs/s",
                f"{flat[10_000][1]:.1f} MB / {flat[1_000_000][1]:.1f} MB",
                f"{sorted(p50s)[len(p50s) // 2]:.0f} ms",
                f"{sorted(p95s)[len(p95s) // 2]:.0f} ms",
            ]
        )
    print(header(f"Backfills and partition status (median of {args.runs} runs)"))
    print(
        table(
            [
                "backend",
                "plan 100k partitions / 1,000 chunks",
                "planning heap peak",
                "10k chunk-size-1 run requests (fresh store)",
                f"same, after {HISTORY:,} events + ANALYZE",
                "first 10 chunks of 10k / 1M hourly: heap peak",
                "summary 100k p50",
                "summary 100k p95",
            ],
            rows,
        )
    )


if __name__ == "__main__":
    main()
