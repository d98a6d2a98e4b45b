"""The quickstart example, driven through arco.testing as a user would test their project."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from arco.sdk.loading import load_definitions
from arco.testing import ArcoTestInstance

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "quickstart" / "definitions.py"


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ARCO_DATA_DIR", str(tmp_path))
    return tmp_path / "quickstart"


def instance_at(start: datetime) -> ArcoTestInstance:
    return ArcoTestInstance(load_definitions(file=EXAMPLE), start=start)


@pytest.fixture
def arco(data_dir: Path) -> Iterator[ArcoTestInstance]:
    with instance_at(datetime(2024, 3, 9, 12, tzinfo=UTC)) as instance:
        yield instance


def test_the_daily_schedule_fires_once_at_the_dst_jump_and_runs_yesterday(
    arco: ArcoTestInstance, data_dir: Path
) -> None:
    # 02:30 does not exist in New York on 2024-03-10: the tick fires at 03:00 EDT (07:00 UTC).
    arco.set_time(datetime(2024, 3, 10, 6, 59, 59, tzinfo=UTC))
    arco.tick()
    assert arco.ticks("daily_refresh") == []
    arco.set_time(datetime(2024, 3, 10, 7, 0, tzinfo=UTC))
    arco.tick()
    [tick] = arco.ticks("daily_refresh")
    assert tick["status"] == "triggered"
    assert tick["scheduled_epoch"] == int(datetime(2024, 3, 10, 7, tzinfo=UTC).timestamp())
    assert arco.materialized_partitions("daily_summary") == ["2024-03-09"]
    summary = json.loads((data_dir / "daily_summary" / "2024-03-09.json").read_text())
    assert summary["date"] == "2024-03-09"
    # The next day is back at 02:30 EDT (06:30 UTC).
    arco.set_time(datetime(2024, 3, 11, 6, 30, tzinfo=UTC))
    arco.tick()
    assert len(arco.ticks("daily_refresh")) == 2
    assert arco.materialized_partitions("raw_events") == ["2024-03-09", "2024-03-10"]


def test_the_folder_sensor_runs_each_new_file_once(arco: ArcoTestInstance, data_dir: Path) -> None:
    incoming = data_dir / "incoming"
    incoming.mkdir(parents=True)
    for name, mtime in (("2024-01-03.json", 1_000), ("2024-01-02-extra.json", 2_000)):
        (incoming / name).write_text("{}")
        os.utime(incoming / name, ns=(mtime * 10**9, mtime * 10**9))
    (incoming / "notes.txt").write_text("ignored")
    arco.tick()
    assert arco.materialized_partitions("daily_summary") == ["2024-01-02", "2024-01-03"]
    [evaluation] = arco.evaluations("incoming_files")
    assert json.loads(str(evaluation["cursor_after"])) == [2_000 * 10**9, "2024-01-02-extra.json"]
    arco.advance(timedelta(seconds=30))
    arco.tick()
    assert len(arco.evaluations("incoming_files")) == 2
    assert len(arco.runs()) == 2  # nothing new in the folder, nothing new requested


def test_a_pushed_date_materializes_that_day(arco: ArcoTestInstance, data_dir: Path) -> None:
    report = arco.push("events_pushed", {"date": "2024-01-05"}, message_id="pubsub-1")
    assert report.status == "ok"
    arco.tick()
    status = arco.partition_status("raw_events")["2024-01-05"]
    metadata = status["last_materialization_metadata"]
    assert isinstance(metadata, dict)
    assert metadata["rows"] > 0
    assert (data_dir / "raw_events" / "2024-01-05.jsonl").exists()
    assert arco.materialized_partitions("daily_summary") == ["2024-01-05"]
