"""End to end in one process (SQLite, arco.testing): a backfill of a two-asset graph.

Every pass the daemon would run (backfills, execution), the compactor and the
tasks (in-process executor) run synchronously under a manual clock.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from arco import (
    AssetExecutionContext,
    AssetsDefinition,
    DailyPartitionsDefinition,
    Definitions,
    MaterializeResult,
    RetryPolicy,
    asset,
)
from arco.events import TaskFinished
from arco.testing import ArcoTestInstance

DAILY = DailyPartitionsDefinition(start_date="2024-01-01")
START = datetime(2024, 2, 1, 12, tzinfo=UTC)


def project(calls: Counter[tuple[str, str]], *, flaky: set[str] | None = None) -> Definitions:
    flaky = flaky if flaky is not None else set()

    @asset(partitions_def=DAILY, code_version="r1")
    def raw(context: AssetExecutionContext) -> MaterializeResult:
        key = context.partition_key or ""
        calls["raw", key] += 1
        if key in flaky and calls["raw", key] == 1:
            raise ConnectionError(f"source unavailable for {key}")
        return MaterializeResult(metadata={"rows": len(key)})

    @asset(deps=[raw], partitions_def=DAILY, code_version="s1")
    def summary(context: AssetExecutionContext) -> None:
        calls["summary", context.partition_key or ""] += 1

    raw_with_retry = raw if not flaky else _with_retry(raw)
    return Definitions(assets=[raw_with_retry, summary])


def _with_retry(definition: AssetsDefinition) -> AssetsDefinition:
    return replace(definition, retry_policy=RetryPolicy(max_retries=2, delay=30))


def succeeded_reports(instance: ArcoTestInstance) -> Counter[tuple[str, str | None]]:
    return Counter(
        (e.asset_key, e.partition_key)
        for e in instance.events(TaskFinished)
        if e.outcome == "succeeded"
    )


KEYS = [f"2024-01-0{d}" for d in range(1, 6)]


def test_a_backfill_materializes_every_partition_exactly_once() -> None:
    calls: Counter[tuple[str, str]] = Counter()
    with ArcoTestInstance(project(calls), start=START) as instance:
        backfill_id = instance.create_backfill(
            ["raw", "summary"],
            partition_range=("2024-01-01", "2024-01-05"),
            chunk_size=2,
            max_concurrent_runs=2,
        )
        instance.tick()
        backfill = instance.backfill(backfill_id)
        assert backfill["state"] == "SUCCEEDED"
        runs = instance.runs()
        assert len(runs) == 3  # chunks of 2, 2 and 1 partitions
        assert {run["state"] for run in runs} == {"succeeded"}
        expected = {(asset_key, key) for asset_key in ("raw", "summary") for key in KEYS}
        assert calls == Counter(dict.fromkeys(expected, 1))
        assert succeeded_reports(instance) == Counter(dict.fromkeys(expected, 1))
        status = instance.partition_status("summary")
        assert sorted(status) == KEYS
        assert {s["last_materialization_code_version"] for s in status.values()} == {"s1"}
        assert instance.materialized_partitions("raw") == KEYS


def test_a_failed_attempt_is_retried_after_its_delay_on_the_manual_clock() -> None:
    calls: Counter[tuple[str, str]] = Counter()
    with ArcoTestInstance(project(calls, flaky={"2024-01-02"}), start=START) as instance:
        run_id = instance.materialize(["raw", "summary"], partition_key="2024-01-02")
        instance.tick()
        assert instance.run(run_id)["state"] == "running"
        raw_task = instance.task(run_id, "raw[2024-01-02]")
        assert raw_task["state"] == "retry_wait"
        assert calls["summary", "2024-01-02"] == 0
        instance.advance(timedelta(seconds=29))
        instance.tick()
        assert instance.task(run_id, "raw[2024-01-02]")["state"] == "retry_wait"
        instance.advance(timedelta(seconds=1))
        instance.tick()
        assert instance.run(run_id)["state"] == "succeeded"
        assert calls == Counter({("raw", "2024-01-02"): 2, ("summary", "2024-01-02"): 1})
        first_log = instance.compute_log(run_id, "raw[2024-01-02]", attempt=1, stream="stderr")
        assert "ConnectionError: source unavailable for 2024-01-02" in first_log
        failures = [e for e in instance.events(TaskFinished) if e.outcome == "failed"]
        assert len(failures) == 1
        assert failures[0].error is not None
        assert "source unavailable for 2024-01-02" in (failures[0].error.traceback or "")


@pytest.mark.parametrize("chunk_size", [1, 5])
def test_every_chunking_gives_the_same_materializations(chunk_size: int) -> None:
    calls: Counter[tuple[str, str]] = Counter()
    with ArcoTestInstance(project(calls), start=START) as instance:
        instance.create_backfill(
            ["raw", "summary"], partition_keys=KEYS, chunk_size=chunk_size, max_concurrent_runs=1
        )
        instance.tick()
        assert set(calls.values()) == {1}
        assert len(calls) == 2 * len(KEYS)
        assert len(instance.runs()) == len(KEYS) // chunk_size
