"""AssetExecutionContext: what an asset function sees, and build_asset_context for unit tests."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest

from arco import AssetExecutionContext, DailyPartitionsDefinition, asset, build_asset_context
from arco.errors import InvalidDefinitionError

DAILY = DailyPartitionsDefinition(start_date="2024-01-01", timezone="America/New_York")


def test_an_asset_called_with_a_built_context_sees_its_partition() -> None:
    @asset(partitions_def=DAILY)
    def events(context: AssetExecutionContext) -> dict[str, object]:
        context.log.info("materializing %s", context.partition_key)
        return {"partition": context.partition_key, "retry": context.retry_number}

    stream = io.StringIO()
    context = build_asset_context(
        partition_key="2024-03-10", partitions_def=DAILY, asset_key="events", stream=stream
    )
    assert events(context) == {"partition": "2024-03-10", "retry": 0}
    assert context.task_key == "events[2024-03-10]"
    line = stream.getvalue().strip()
    assert line.endswith("INFO arco.asset.events - materializing 2024-03-10")


def test_partition_time_window_is_the_utc_window_of_the_key() -> None:
    context = build_asset_context(partition_key="2024-03-10", partitions_def=DAILY)
    window = context.partition_time_window
    assert window.start == datetime(2024, 3, 10, 5, tzinfo=UTC)
    assert window.end == datetime(2024, 3, 11, 4, tzinfo=UTC)  # a 23-hour DST day


def test_partition_time_window_without_a_time_partition_is_an_error() -> None:
    with pytest.raises(InvalidDefinitionError) as caught:
        _ = build_asset_context(asset_key="plain").partition_time_window
    assert caught.value.value == "plain"


def test_loggers_of_two_tasks_do_not_share_handlers() -> None:
    first, second = io.StringIO(), io.StringIO()
    build_asset_context(asset_key="x", stream=first).log.info("one")
    build_asset_context(asset_key="x", stream=second).log.info("two")
    assert "two" not in first.getvalue()
    assert "one" not in second.getvalue()
