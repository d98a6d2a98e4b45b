"""``arco backfills`` and ``arco partitions`` as a user drives them: the real binary against a
real ``arco serve -f examples/quickstart/definitions.py`` — and, for ``--wait``, a real
``arco daemon`` and ``arco worker`` over the same store."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from arco.cli import main
from support.server import ARCO, arco, arco_env, running_server

pytestmark = pytest.mark.slow

QUICKSTART = Path(__file__).resolve().parents[2] / "examples" / "quickstart" / "definitions.py"
BACKFILL_COMMANDS = (
    "preview",
    "create",
    "list",
    "show",
    "chunks",
    "pause",
    "resume",
    "cancel",
    "retry-failed",
)
PARTITION_COMMANDS = ("assets", "list", "show", "stale", "summary")
JANUARY = ("--from", "2024-01-01", "--to", "2024-01-31")
BOTH = ("-a", "raw_events", "-a", "daily_summary")


class Cli:
    def __init__(self, url: str, token: str) -> None:
        self.url, self.token = url, token

    def run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return arco(*args, url=self.url, token=self.token, timeout=timeout)

    def json(self, *args: str) -> Any:
        result = self.run(*args, "--json")
        assert result.returncode == 0, result.stdout + result.stderr
        return json.loads(result.stdout)

    def fails(self, *args: str) -> dict[str, Any]:
        result = self.run(*args, "--json")
        assert result.returncode == 2, result.stdout + result.stderr
        error: dict[str, Any] = json.loads(result.stdout)["error"]
        return error


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cli]:
    data_dir = tmp_path_factory.mktemp("arco") / "data"
    with running_server(data_dir, project_file=QUICKSTART) as connection:
        yield Cli(*connection)


def days_since_2024(now: datetime) -> int:
    return (now.date() - datetime(2024, 1, 1, tzinfo=UTC).date()).days


def test_every_command_explains_itself_with_an_example() -> None:
    runner = CliRunner()
    commands = [("backfills", c) for c in BACKFILL_COMMANDS]
    commands += [("partitions", c) for c in PARTITION_COMMANDS]
    for command in commands:
        result = runner.invoke(main.app, [*command, "--help"], env={"COLUMNS": "200"})
        assert result.exit_code == 0, result.output
        assert f"arco {command[0]} " in result.output, command
        assert "xample" in result.output, command
        assert "--json" in result.output, command


def test_preview_then_create_and_show(cli: Cli) -> None:
    preview = cli.json("backfills", "preview", *BOTH, *JANUARY, "--chunk-size", "7")
    assert (preview["partition_count"], preview["chunk_count"]) == (31, 5)
    assert preview["first_chunk_keys"][-1] == "2024-01-07"
    as_text = cli.run("backfills", "preview", *BOTH, *JANUARY)
    assert as_text.returncode == 0, as_text.stderr
    assert "31 partitions in 4 chunks" in as_text.stdout
    assert cli.json("backfills", "list") == []  # preview wrote nothing

    created = cli.json(
        "backfills", "create", *BOTH, *JANUARY, "--max-concurrent-runs", "2", "--tag", "team=data"
    )
    shown = cli.json("backfills", "show", created["id"])
    assert (shown["state"], shown["display_state"], shown["state_version"]) == (
        "PENDING",
        "PENDING",
        0,
    )
    assert shown["asset_selection"] == ["raw_events", "daily_summary"]
    assert (shown["counters"]["partitions"]["total"], shown["tags"]) == (31, {"team": "data"})
    table = cli.run("backfills", "show", created["id"])
    assert created["id"] in table.stdout
    assert "0/31" in table.stdout
    keys = cli.json("backfills", "create", "-a", "raw_events", "--key", "2024-02-01")
    assert cli.json("backfills", "show", keys["id"])["selector"] == {
        "kind": "keys",
        "keys": ["2024-02-01"],
    }
    again = cli.json(
        "backfills", "create", "-a", "raw_events", "--key", "2024-02-02", "--request-id", "r-1"
    )
    assert (
        cli.json(
            "backfills", "create", "-a", "raw_events", "--key", "2024-02-02", "--request-id", "r-1"
        )
        == again
    )
    listed = [b["backfill_id"] for b in cli.json("backfills", "list")]
    assert listed[:3] == [again["id"], keys["id"], created["id"]]


def test_pause_resume_cancel_with_state_versions(cli: Cli) -> None:
    backfill_id = cli.json("backfills", "create", "-a", "raw_events", *JANUARY)["id"]
    paused = cli.json("backfills", "pause", backfill_id, "--expected-version", "0")
    assert paused["expected_state_version"] == 0
    # The same pause again is a retry of a change that happened, not a conflict.
    assert cli.json("backfills", "pause", backfill_id, "--expected-version", "0")["duplicate"]
    stale = cli.fails("backfills", "resume", backfill_id, "--expected-version", "0")
    assert (stale["code"], stale["field"]) == ("version_conflict", "expected_state_version")
    assert stale["details"]["current_state_version"] == 1
    illegal = cli.fails("backfills", "pause", backfill_id)  # reads version 1: PAUSED already
    assert (illegal["code"], illegal["details"]["current_state"]) == (
        "illegal_transition",
        "PAUSED",
    )
    cli.json("backfills", "resume", backfill_id, "--expected-version", "1")
    assert cli.json("backfills", "list", "--state", "RUNNING")[0]["backfill_id"] == backfill_id
    as_text = cli.run("backfills", "cancel", backfill_id, "--reason", "wrong range")
    assert as_text.returncode == 0, as_text.stderr
    assert "accepted at state_version 2" in as_text.stdout
    shown = cli.json("backfills", "show", backfill_id)
    assert (shown["state"], shown["state_version"]) == ("CANCELLING", 3)
    assert shown["last_transition"]["reason"] == "wrong range"
    text = cli.run("backfills", "resume", backfill_id, "--expected-version", "0")
    assert text.returncode == 2
    assert "version_conflict" in text.stderr


def test_bad_requests_are_clean_errors(cli: Cli) -> None:
    nothing = cli.fails("backfills", "create", "-a", "raw_events")
    assert nothing["field"] == "--from"
    half = cli.fails("backfills", "preview", "-a", "raw_events", "--from", "2024-01-01")
    assert half["field"] == "--to"
    unknown = cli.fails("backfills", "create", "-a", "nope", *JANUARY)
    assert (unknown["field"], "raw_events" in unknown["allowed"]) == ("asset_selection", True)
    future = cli.fails(
        "backfills", "preview", "-a", "raw_events", "--from", "2024-01-01", "--to", "2999-01-01"
    )
    assert future["code"] == "invalid_partition_range"
    assert cli.fails("backfills", "show", "nope")["code"] == "not_found"
    assert cli.fails("partitions", "summary", "nope")["code"] == "not_found"
    status = cli.fails("partitions", "list", "raw_events", "--status", "GREEN")
    assert "STALE" in status["allowed"]


def test_partitions_of_the_quickstart(cli: Cli) -> None:
    assets = cli.json("partitions", "assets")
    assert [a["asset_key"] for a in assets] == ["daily_summary", "raw_events"]
    summary = cli.json("partitions", "summary", "raw_events")
    total = summary["total"]
    assert total >= days_since_2024(datetime.now(UTC)) - 1
    assert summary["counts"]["NEVER_MATERIALIZED"] == total
    listed = cli.json("partitions", "list", "raw_events", "--limit", "3")
    assert [p["partition_key"] for p in listed] == ["2024-01-01", "2024-01-02", "2024-01-03"]
    one = cli.json("partitions", "show", "daily_summary", "2024-01-05")
    assert (one["status"], one["stale_reasons"]) == ("NEVER_MATERIALIZED", ["NEVER_MATERIALIZED"])
    assert cli.json("partitions", "stale") == []
    table = cli.run("partitions", "summary", "raw_events")
    assert table.returncode == 0, table.stderr
    assert "NEVER_MATERIALIZED" in table.stdout
    assert f"total: {total}" in table.stdout


@contextmanager
def background(name: str, log_dir: Path, *args: str, **env: str) -> Iterator[None]:
    """An ``arco`` child process for the block's duration (its output in log_dir/name.log)."""
    log_path = log_dir / f"{name}.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [str(ARCO), *args], stdout=log, stderr=subprocess.STDOUT, env=arco_env(**env)
        )
    try:
        yield
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_create_wait_runs_the_backfill_to_the_end(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with running_server(data_dir, project_file=QUICKSTART) as (url, token):
        store = {"ARCO_DATA_DIR": str(data_dir)}  # the quickstart assets write under it
        project = ("-f", str(QUICKSTART))
        daemon = (
            "daemon",
            *project,
            "--tenant",
            "acme",
            "--workspace",
            "prod",
            "--interval",
            "0.2",
        )
        worker = ("worker", *project, "--in-process", "--concurrency", "4")
        with (
            background("daemon", tmp_path, *daemon, **store),
            background("worker", tmp_path, *worker, **store),
        ):
            result = arco(
                "backfills", "create", *BOTH, "--from", "2024-01-01", "--to", "2024-01-06",
                "--chunk-size", "2", "--max-concurrent-runs", "2", "--wait", "--json",
                url=url, token=token, timeout=180,
            )  # fmt: skip
            logs = "".join(p.read_text() for p in sorted(tmp_path.glob("*.log")))
            assert result.returncode == 0, result.stdout + result.stderr + logs
            backfill = json.loads(result.stdout)["backfill"]
            assert (backfill["state"], backfill["counters"]["partitions"]["succeeded"]) == (
                "SUCCEEDED",
                6,
            )
            summary = arco("partitions", "summary", "daily_summary", "--json", url=url, token=token)
            assert summary.returncode == 0, summary.stderr
            assert json.loads(summary.stdout)["counts"]["MATERIALIZED"] == 6
            written = sorted(p.name for p in (data_dir / "quickstart" / "daily_summary").iterdir())
            assert written == [f"2024-01-0{d}.json" for d in range(1, 7)]
