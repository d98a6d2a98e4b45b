"""``arco schedules`` as a user drives it: the real binary against a real ``arco serve``."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from typer.testing import CliRunner

from arco.cli import main
from support.server import arco, running_server

pytestmark = pytest.mark.slow

COMMANDS = ("list", "show", "create", "update", "pause", "resume", "trigger", "ticks")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    with running_server(tmp_path_factory.mktemp("arco") / "data") as connection:
        yield connection


class Cli:
    """``arco …`` against one server; commands given together run concurrently."""

    def __init__(self, url: str, token: str) -> None:
        self.url, self.token = url, token

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return arco(*args, url=self.url, token=self.token)

    def json(self, *args: str) -> Any:
        result = self.run(*args, "--json")
        assert result.returncode == 0, result.stdout + result.stderr
        return json.loads(result.stdout)

    def fails(self, *args: str) -> dict[str, Any]:
        """The JSON error of a command that must fail with exit code 2."""
        result = self.run(*args, "--json")
        assert result.returncode == 2, result.stdout + result.stderr
        error: dict[str, Any] = json.loads(result.stdout)["error"]
        return error

    def together(self, *commands: tuple[str, ...]) -> list[Any]:
        with ThreadPoolExecutor(len(commands)) as pool:
            return list(pool.map(lambda args: self.json(*args), commands))

    def create(self, name: str, *extra: str) -> str:
        created = self.json(
            "schedules", "create", name, "--cron", "30 2 * * *", "-a", "raw", *extra
        )
        return str(created["id"])


@pytest.fixture
def cli(server: tuple[str, str]) -> Cli:
    return Cli(*server)


def test_every_command_explains_itself_with_an_example() -> None:
    # Help needs no server: read it in-process (the binary's app, without 9 interpreter starts).
    runner = CliRunner()
    for command in [("schedules", c) for c in COMMANDS] + [("runs", "logs")]:
        result = runner.invoke(main.app, [*command, "--help"], env={"COLUMNS": "200"})
        assert result.exit_code == 0, result.output
        assert "Example: arco" in result.output, command
        assert "--json" in result.output, command


def test_a_schedule_from_creation_to_a_triggered_run(cli: Cli) -> None:
    sid = cli.create(
        "nightly",
        "--timezone",
        "America/New_York",
        "-a",
        "report",
        "--catchup-window-minutes",
        "60",
        "--max-catchup-ticks",
        "3",
        "--tag",
        "team=data",
    )
    cli.json("schedules", "update", sid, "--cron", "0 3 * * *", "--expected-version", "1")
    stale = cli.fails("schedules", "update", sid, "--name", "late", "--expected-version", "1")
    assert (stale["code"], stale["field"]) == ("version_conflict", "expected_version")
    cli.json("schedules", "pause", sid)
    paused, shown = cli.together(("schedules", "list", "--paused"), ("schedules", "show", sid))
    assert sid in {s["schedule_id"] for s in paused}
    assert shown["spec"]["timezone"] == "America/New_York"
    assert (shown["spec"]["catchup_window_minutes"], shown["spec"]["max_catchup_ticks"]) == (60, 3)
    assert shown["spec"]["tags"] == {"team": "data"}
    assert shown["next_tick_at"] is None  # paused
    assert (shown["definition_version"], shown["spec"]["cron"], shown["name"]) == (
        3,
        "0 3 * * *",
        "nightly",
    )
    assert shown["spec"]["asset_selection"] == ["raw", "report"]

    tick = cli.json("schedules", "trigger", sid)
    assert tick["tick_id"].startswith(f"{sid}:manual:")
    assert tick["status"] == "triggered"
    cli.json("schedules", "resume", sid, "--expected-version", "3")
    ticks, every, run, running = cli.together(
        ("schedules", "ticks", sid),
        ("schedules", "ticks", "--status", "triggered"),
        ("runs", "show", tick["run_id"]),
        ("schedules", "list", "--enabled"),
    )
    assert [(t["tick_id"], t["run_id"]) for t in ticks] == [(tick["tick_id"], tick["run_id"])]
    assert tick["tick_id"] in {t["tick_id"] for t in every}
    assert (run["run_key"], run["asset_selection"]) == (tick["run_key"], ["raw", "report"])
    assert sid in {s["schedule_id"] for s in running}


def test_the_name_is_positional_as_for_sensors_and_the_old_option_still_works(cli: Cli) -> None:
    by_option = cli.json("schedules", "create", "--name", "opt", "--cron", "@daily", "-a", "raw")
    assert cli.json("schedules", "show", by_option["id"])["name"] == "opt"
    both = cli.run("schedules", "create", "one", "--name", "other", "--cron", "@daily", "-a", "raw")
    assert both.returncode == 2
    assert "name" in both.stderr
    neither = cli.run("schedules", "create", "--cron", "@daily", "-a", "raw")
    assert neither.returncode == 2
    assert "NAME" in neither.stderr


def test_invalid_cron_and_timezone_name_the_field_and_the_allowed_forms(cli: Cli) -> None:
    base = ("schedules", "create", "bad", "-a", "raw")
    cron = cli.fails(*base, "--cron", "every day")
    assert (cron["code"], cron["field"]) == ("invalid_cron", "cron")
    assert "5 fields" in cron["allowed"]
    zone = cli.fails(*base, "--cron", "@daily", "--timezone", "Mars/Base")
    assert (zone["code"], zone["field"]) == ("invalid_timezone", "timezone")
    assert "IANA" in zone["allowed"]
    as_text = cli.run(*base, "--cron", "every day")
    assert as_text.returncode == 2
    assert "invalid cron expression" in as_text.stderr
    assert "field: cron" in as_text.stderr
    assert "allowed:" in as_text.stderr
    bad_tag = cli.fails(*base, "--cron", "@daily", "--tag", "novalue")
    assert (bad_tag["field"], bad_tag["allowed"]) == ("--tag", "key=value")


def test_tables_by_default(cli: Cli) -> None:
    sid = cli.create("tabled")
    triggered, listed, shown, ticks = (
        cli.run("schedules", "trigger", sid),
        cli.run("schedules", "list"),
        cli.run("schedules", "show", sid),
        cli.run("schedules", "ticks", sid),
    )
    for result in (listed, shown, ticks, triggered):
        assert result.returncode == 0, result.stderr
    assert f"tick {sid}:manual:" in triggered.stdout
    assert "schedule id" in listed.stdout
    assert sid in listed.stdout
    assert "next tick:" in shown.stdout
    assert "30 2 * * *" in shown.stdout
    assert "tick id" in ticks.stdout
    assert f"{sid}:manual:" in ticks.stdout


def test_unknown_schedule_or_token_is_a_clean_error(cli: Cli) -> None:
    for command in ("show", "trigger"):
        error = cli.fails("schedules", command, "no-such-schedule")
        assert (error["code"], error["field"]) == ("not_found", "schedule_id"), command
    wrong_token = arco("schedules", "list", "--json", url=cli.url, token="not-a-token")
    assert wrong_token.returncode == 2
    assert json.loads(wrong_token.stdout)["error"]["code"] == "unauthenticated"


def test_run_logs_without_a_log_directory_is_a_clean_not_found(cli: Cli) -> None:
    run = cli.json("runs", "request", "raw")
    error = cli.fails("runs", "logs", run["id"], "--task", "raw")
    assert error["code"] == "not_found"
    assert run["id"] in json.dumps(error)
