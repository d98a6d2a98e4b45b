"""Schedules and sensors can be named on the command line instead of by id."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from support.server import arco, running_server

pytestmark = pytest.mark.slow


def test_schedules_and_sensors_by_name_and_a_clear_error_for_an_unknown_name(
    tmp_path: Path,
) -> None:
    with running_server(tmp_path / "data") as (url, token):
        created = arco(
            "schedules",
            "create",
            "--name",
            "nightly",
            "--cron",
            "0 3 * * *",
            "-a",
            "raw",
            "--json",
            url=url,
            token=token,
        )
        assert created.returncode == 0, created.stderr
        schedule_id = json.loads(created.stdout)["id"]
        shown = arco("schedules", "show", "nightly", "--json", url=url, token=token)
        assert shown.returncode == 0, shown.stderr
        assert json.loads(shown.stdout)["schedule_id"] == schedule_id
        paused = arco("schedules", "pause", "nightly", "--json", url=url, token=token)
        assert paused.returncode == 0, paused.stderr

        sensor = arco(
            "sensors", "create", "inbox", "--kind", "poll", "--json", url=url, token=token
        )
        assert sensor.returncode == 0, sensor.stderr
        by_name = arco("sensors", "show", "inbox", "--json", url=url, token=token)
        assert by_name.returncode == 0, by_name.stderr
        assert json.loads(by_name.stdout)["sensor_id"] == json.loads(sensor.stdout)["id"]

        unknown = arco("schedules", "show", "no-such", "--json", url=url, token=token)
        assert unknown.returncode == 2
        error = json.loads(unknown.stdout)["error"]
        assert error["code"] == "not_found"
        assert error["allowed"] == ["nightly"]
