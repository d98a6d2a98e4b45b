"""arco.testing: what a user's test can do with an in-process instance and a manual clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from arco import (
    AssetExecutionContext,
    DefaultSensorStatus,
    Definitions,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    StaticPartitionsDefinition,
    asset,
    push_sensor,
    sensor,
)
from arco.testing import ArcoTestInstance, build_asset_context

REGIONS = StaticPartitionsDefinition(["eu", "us"])
START = datetime(2024, 5, 1, 9, tzinfo=UTC)
SEEN: list[str] = []


@asset(partitions_def=REGIONS)
def sales(context: AssetExecutionContext) -> dict[str, object]:
    print(f"loading {context.partition_key}")
    context.log.info("attempt %d", context.attempt)
    return {"region": context.partition_key}


@sensor(asset_selection=[sales], minimum_interval_seconds=60, default_status="RUNNING")
def new_regions(context: SensorEvaluationContext) -> SensorResult:
    """Requests each region listed in SEEN after the cursor, once."""
    done = int(context.cursor or 0)
    requests = [RunRequest(run_key=f"r:{r}", partition_key=r) for r in SEEN[done:]]
    return SensorResult(requests, cursor=str(len(SEEN)))


@push_sensor(asset_selection=[sales], default_status=DefaultSensorStatus.RUNNING)
def region_pushed(context: SensorEvaluationContext) -> RunRequest:
    return RunRequest(partition_key=context.message.json()["region"])


DEFS = Definitions(assets=[sales], sensors=[new_regions, region_pushed])


@pytest.fixture
def arco() -> Iterator[ArcoTestInstance]:
    SEEN.clear()
    with ArcoTestInstance(DEFS, start=START) as instance:
        yield instance


def test_definitions_are_synced_when_the_instance_starts(arco: ArcoTestInstance) -> None:
    assert sorted(arco.synced.sensor_ids) == ["new_regions", "region_pushed"]
    assert arco.synced.created == ["sensor:new_regions", "sensor:region_pushed"]


def test_a_poll_sensor_runs_at_its_interval_on_the_manual_clock(arco: ArcoTestInstance) -> None:
    SEEN.append("eu")
    arco.tick()
    assert arco.materialized_partitions("sales") == ["eu"]
    SEEN.append("us")
    arco.advance(timedelta(seconds=59))
    arco.tick()  # not due yet: one evaluation so far
    assert len(arco.evaluations("new_regions")) == 1
    assert arco.materialized_partitions("sales") == ["eu"]
    arco.advance(timedelta(seconds=1))
    arco.tick()
    evaluations = arco.evaluations("new_regions")
    assert [e["cursor_after"] for e in evaluations] == ["1", "2"]
    assert arco.materialized_partitions("sales") == ["eu", "us"]
    assert len(arco.runs("succeeded")) == 2


def test_a_pushed_message_requests_its_run_once(arco: ArcoTestInstance) -> None:
    first = arco.push("region_pushed", {"region": "us"}, message_id="m-1")
    again = arco.push("region_pushed", {"region": "us"}, message_id="m-1")
    assert first.appended
    assert again.duplicate
    arco.tick()
    [run] = arco.runs()
    assert run["run_key"] == f"sensor:{arco.sensor_id('region_pushed')}:msg:m-1"
    assert run["state"] == "succeeded"
    assert arco.compute_log(run["run_id"], "sales[us]") == "loading us\n"  # type: ignore[arg-type]
    stderr = arco.compute_log(run["run_id"], "sales[us]", stream="stderr")  # type: ignore[arg-type]
    assert "attempt 1" in stderr


def test_nothing_runs_until_tick(arco: ArcoTestInstance) -> None:
    run_id = arco.materialize(["sales"], partition_key="eu")
    assert arco.run(run_id)["state"] == "queued"
    arco.advance(timedelta(hours=1))
    assert arco.run(run_id)["state"] == "queued"
    arco.tick()
    assert arco.run(run_id)["state"] == "succeeded"
    assert [t["state"] for t in arco.tasks(run_id)] == ["succeeded"]


def test_the_clock_never_runs_backwards(arco: ArcoTestInstance) -> None:
    arco.set_time(START + timedelta(days=1))
    assert arco.now == START + timedelta(days=1)
    with pytest.raises(ValueError, match="backwards"):
        arco.set_time(START)


def test_build_asset_context_calls_an_asset_directly() -> None:
    assert sales(build_asset_context(partition_key="eu", asset_key="sales")) == {"region": "eu"}
