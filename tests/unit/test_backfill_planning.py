"""Planning big and DST-crossing ranges: lazily, in flat memory, with Dagster's keys."""

from __future__ import annotations

import tracemalloc
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from arco.controllers.backfills import BackfillRequest, ChunkProgress, create, decide
from arco.events import (
    BackfillChunkPlanned,
    BackfillCreated,
    BackfillState,
    RangeSelector,
    RunRequested,
)
from arco.partitions import (
    DailyPartitionsDefinition,
    HourlyPartitionsDefinition,
    PartitionsDefinition,
)
from support.backfills import SCOPE, BackfillWorld
from support.factories import SECRET

NY = "America/New_York"
LONDON = "Europe/London"
NOW = datetime(2025, 1, 1, tzinfo=UTC)
MILLION = 1_000_000


def test_planning_the_first_chunks_of_a_million_hourly_partitions_stays_under_50_mb() -> None:
    hourly = HourlyPartitionsDefinition(start_date="1900-01-01-00:00")
    last = hourly.key_at(MILLION - 1)
    selector = RangeSelector(start="1900-01-01-00:00", end=last)
    tracemalloc.start()
    try:
        created = create(SCOPE, "BIG", BackfillRequest(("raw",), selector, 100, 20), hourly, NOW)
        data = created.data
        assert isinstance(data, BackfillCreated)
        world = BackfillWorld()
        world.append([created])
        decisions = decide(world.view("BIG"), ChunkProgress(), NOW, SECRET)
        for batch in decisions:
            world.append(batch)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert data.total_partitions == MILLION
    assert len(created.to_json()) < 2_000  # the range is two keys in the ledger
    assert len(decisions) == 20
    chunks = [
        e.data for batch in decisions for e in batch if isinstance(e.data, BackfillChunkPlanned)
    ]
    assert [len(c.partition_keys) for c in chunks] == [100] * 20
    assert chunks[-1].partition_keys[-1] == hourly.key_at(1999)
    assert world.doc("BIG")["total_chunks"] == 10_000
    assert peak < 50 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB"


def test_planning_a_chunk_deep_inside_a_million_partitions_touches_only_that_chunk() -> None:
    hourly = HourlyPartitionsDefinition(start_date="1900-01-01-00:00")
    selector = RangeSelector(start="1900-01-01-00:00", end=hourly.key_at(MILLION - 1))
    world = BackfillWorld()
    world.append([create(SCOPE, "BIG", BackfillRequest(("raw",), selector, 100, 1), hourly, NOW)])
    view = world.view("BIG")
    late = replace(view, state=BackfillState.RUNNING, next_chunk_index=9_999)
    tracemalloc.start()
    try:
        decisions = decide(late, ChunkProgress(succeeded=9_999), NOW, SECRET)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    chunk = decisions[0][0].data
    assert isinstance(chunk, BackfillChunkPlanned)
    assert chunk.chunk_index == 9_999
    assert chunk.partition_keys[-1] == hourly.key_at(MILLION - 1)
    assert peak < 5 * 1024 * 1024


def _planned_keys(definition: PartitionsDefinition, start: str, end: str, size: int) -> list[str]:
    """Every key a backfill over ``start..end`` requests, chunk by chunk, in run requests."""
    world = BackfillWorld(NOW)
    world.create(
        definition, RangeSelector(start=start, end=end), chunk_size=size, max_concurrent_runs=None
    )
    decisions = world.run_pass("B1")
    keys: list[str] = []
    for batch in decisions:
        for event in batch:
            if isinstance(event.data, RunRequested):
                assert event.data.partition_selection is not None
                keys += list(event.data.partition_selection.keys)  # type: ignore[union-attr]
    assert len(keys) == world.doc("B1")["total_partitions"]
    return keys


@pytest.mark.parametrize(
    ("tz", "day", "count", "repeated"),
    [
        (NY, "2024-11-03", 25, ["2024-11-03-01:00", "2024-11-03-01:00-0500"]),
        (LONDON, "2024-10-27", 25, ["2024-10-27-01:00", "2024-10-27-01:00+0000"]),
    ],
)
def test_an_hourly_backfill_over_fall_back_requests_both_copies_of_the_repeated_hour(
    tz: str, day: str, count: int, repeated: list[str]
) -> None:
    hourly = HourlyPartitionsDefinition(start_date="2024-01-01-00:00", timezone=tz)
    keys = _planned_keys(hourly, f"{day}-00:00", f"{day}-23:00", 4)
    assert len(keys) == len(set(keys)) == count
    first = keys.index(repeated[0])
    assert keys[first : first + 2] == repeated


@pytest.mark.parametrize(
    ("tz", "day", "missing"),
    [(NY, "2024-03-10", "2024-03-10-02:00"), (LONDON, "2024-03-31", "2024-03-31-01:00")],
)
def test_an_hourly_backfill_over_spring_forward_skips_the_missing_hour(
    tz: str, day: str, missing: str
) -> None:
    hourly = HourlyPartitionsDefinition(start_date="2024-01-01-00:00", timezone=tz)
    keys = _planned_keys(hourly, f"{day}-00:00", f"{day}-23:00", 5)
    assert len(keys) == len(set(keys)) == 23
    assert missing not in keys


@pytest.mark.parametrize("tz", [NY, LONDON])
@pytest.mark.parametrize(("month", "days"), [("2024-03", 31), ("2024-10", 31), ("2024-11", 30)])
def test_a_daily_backfill_across_dst_has_one_key_per_local_date(
    tz: str, month: str, days: int
) -> None:
    daily = DailyPartitionsDefinition(start_date="2024-01-01", timezone=tz)
    keys = _planned_keys(daily, f"{month}-01", f"{month}-{days}", 7)
    assert keys == [f"{month}-{day:02d}" for day in range(1, days + 1)]


def test_a_daily_backfill_whose_hour_does_not_exist_on_the_dst_day_keeps_that_day() -> None:
    # New York 02:30 does not exist on 2024-03-10: the partition starts when the clock jumps.
    daily = DailyPartitionsDefinition(
        start_date="2024-01-01", hour_offset=2, minute_offset=30, timezone=NY
    )
    keys = _planned_keys(daily, "2024-03-08", "2024-03-12", 2)
    assert keys == ["2024-03-08", "2024-03-09", "2024-03-10", "2024-03-11", "2024-03-12"]
