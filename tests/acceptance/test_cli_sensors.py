"""``arco sensors`` as a user drives it: the real binary against a real ``arco serve``."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from typer.testing import CliRunner

from arco.cli.main import app
from support.server import arco, running_server

pytestmark = pytest.mark.slow

COMMANDS = (
    "list",
    "show",
    "create",
    "update",
    "pause",
    "resume",
    "reset-cursor",
    "evals",
    "evaluate",
    "push",
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    with running_server(tmp_path_factory.mktemp("arco") / "data") as connection:
        yield connection


class Cli:
    """``arco sensors …`` against one server; commands given together run concurrently."""

    def __init__(self, url: str, token: str) -> None:
        self.url, self.token = url, token

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return arco("sensors", *args, url=self.url, token=self.token)

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


@pytest.fixture
def cli(server: tuple[str, str]) -> Cli:
    return Cli(*server)


def test_every_command_has_help_with_an_example() -> None:
    # One real `--help`; each command's own help is read in-process (the same Typer
    # app the binary runs), since every start of the binary costs seconds.
    group = arco("sensors", "--help")
    assert group.returncode == 0, group.stderr
    for command in COMMANDS:
        assert command in group.stdout
        result = CliRunner().invoke(app, ["sensors", command, "--help"])
        text = " ".join(result.output.split())
        assert result.exit_code == 0, result.output
        assert "Example: arco sensors" in text, command
        assert "--json" in text, command


def test_create_list_show(cli: Cli) -> None:
    created = cli.json("create", "poller", "--kind", "poll", "-a", "raw", "--interval", "60")
    assert created["accepted_event_id"]
    poll_id = created["id"]
    push_id = cli.json("create", "files", "--kind", "push", "--paused", "--tag", "team=data")["id"]
    paused_pushes, shown = cli.together(("list", "--kind", "push", "--paused"), ("show", poll_id))
    assert [(s["sensor_id"], s["status"], s["tags"]) for s in paused_pushes] == [
        (push_id, "paused", {"team": "data"})
    ]
    assert (shown["kind"], shown["minimum_interval_seconds"], shown["status"]) == (
        "poll",
        60,
        "running",
    )
    assert shown["asset_selection"] == ["raw"]
    table = cli.run("list")
    assert table.returncode == 0
    assert "poller" in table.stdout
    assert "files" in table.stdout
    assert poll_id in table.stdout


def test_pause_resume_update_and_reset_cursor(cli: Cli) -> None:
    sensor_id = cli.json("create", "lifecycle", "--kind", "poll")["id"]
    cli.json("pause", sensor_id)
    assert cli.json("show", sensor_id)["status"] == "paused"
    again = cli.fails("pause", sensor_id)
    assert (again["code"], again["field"]) == ("illegal_transition", "status")
    cli.json("resume", sensor_id)
    cli.json("update", sensor_id, "--interval", "90", "--expected-version", "3")
    stale = cli.fails("update", sensor_id, "--interval", "120", "--expected-version", "3")
    assert (stale["code"], stale["details"]) == (
        "version_conflict",
        {"current_definition_version": 4},
    )
    cli.json("reset-cursor", sensor_id, "--cursor", "2024-01-01")
    shown = cli.json("show", sensor_id)
    assert (shown["status"], shown["minimum_interval_seconds"]) == ("running", 90)
    assert (shown["cursor"], shown["state_version"]) == ("2024-01-01", 1)


def test_errors_name_the_field_and_exit_2(cli: Cli) -> None:
    kind = cli.fails("create", "bad", "--kind", "cron")
    assert (kind["code"], kind["field"]) == ("invalid_input", "kind")
    tag = cli.fails("create", "bad", "--tag", "no-equals-sign")
    assert tag["field"] == "--tag"
    human = cli.run("show", "no-such-sensor")
    assert human.returncode == 2
    assert "no sensor 'no-such-sensor'" in human.stderr
    assert "field: sensor_id" in human.stderr


def test_evaluate_and_push_need_a_loaded_project(cli: Cli) -> None:
    push_id = cli.json("create", "incoming", "--kind", "push")["id"]
    push = cli.fails("push", push_id, "--data", '{"date": "2024-01-05"}', "--message-id", "m-1")
    evaluate = cli.fails("evaluate", push_id, "--data", "{}")
    for problem in (push, evaluate):
        assert problem["code"] == "conflict"
        assert problem["details"]["reason"] == "no_project_loaded"
    assert cli.json("evals", push_id) == []


def test_without_a_server_the_cli_says_so() -> None:
    result = arco("sensors", "list", "--json", url="http://127.0.0.1:9", token="t")
    assert result.returncode == 2
    assert json.loads(result.stdout)["error"]["field"] == "--url"
