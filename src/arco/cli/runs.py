"""``arco runs``: list, show, request, cancel; tasks and logs."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from arco.cli.client import ApiClient, TokenOption, UrlOption
from arco.cli.common import (
    JsonOption,
    console,
    err_console,
    parse_pairs,
    print_json,
    render,
    reported_errors,
)
from arco.cli.options import RequestIdOption, TagOption
from arco.cli.progress import wait_until
from arco.errors import ValidationError

app = typer.Typer(help="Runs: list, show, request, cancel, tasks, logs.", no_args_is_help=True)

TERMINAL = {"succeeded", "failed", "cancelled"}
RUN_COLUMNS = [
    ("run id", "run_id"),
    ("state", "state"),
    ("run key", "run_key"),
    ("assets", "asset_selection"),
    ("source", "source_kind"),
    ("requested at", "requested_at"),
]
WaitOption = Annotated[bool, typer.Option("--wait", help="Wait until the run finishes.")]


def _task_progress(run: dict[str, Any]) -> tuple[int, int]:
    counts = run.get("task_counts") or {}
    finished = sum(int(counts.get(s, 0)) for s in ("succeeded", "failed", "skipped", "cancelled"))
    return finished, int(run.get("tasks_total") or 0)


def wait_for_run(client: ApiClient, run_id: str, *, quiet: bool) -> dict[str, Any]:
    return wait_until(
        lambda: client.get(f"/runs/{run_id}", fresh="true"),
        lambda run: run["state"] in TERMINAL,
        _task_progress,
        label=f"run {run_id}",
        quiet=quiet,
    )


@app.command("list")
def list_command(
    state: Annotated[str | None, typer.Option(help="queued, running, succeeded, failed, …")] = None,
    since: Annotated[str | None, typer.Option(help="ISO-8601 lower bound on request time")] = None,
    limit: Annotated[int, typer.Option(help="At most this many runs")] = 50,
    url: UrlOption = None,
    token: TokenOption = None,
    json: JsonOption = False,
) -> None:
    """List runs, newest first.  Example: arco runs list --state failed --json"""
    with reported_errors(json):
        client = ApiClient.resolve(url, token)
        items = client.pages("/runs", limit=limit, state=state, since=since, fresh="true")
    render(items, RUN_COLUMNS, as_json=json, title="runs")


@app.command("show")
def show_command(
    run_id: str,
    url: UrlOption = None,
    token: TokenOption = None,
    json: JsonOption = False,
    wait: WaitOption = False,
) -> None:
    """Show one run (with --wait, follow it until it finishes)."""
    with reported_errors(json):
        client = ApiClient.resolve(url, token)
        run = (
            wait_for_run(client, run_id, quiet=json)
            if wait
            else client.get(f"/runs/{run_id}", fresh="true")
        )
    if json:
        print_json(run)
    else:
        render([run], RUN_COLUMNS, as_json=False)
        if run.get("error"):
            console.print(f"[red]error:[/red] {run['error']}")
    if wait and run["state"] != "succeeded":
        raise typer.Exit(code=1)


@app.command("request")
def request_command(
    assets: Annotated[list[str], typer.Argument(help="Asset keys to materialize")],
    partition: Annotated[
        list[str] | None, typer.Option("--partition", "-p", help="Partition key (repeatable)")
    ] = None,
    tag: TagOption = None,
    request_id: RequestIdOption = None,
    url: UrlOption = None,
    token: TokenOption = None,
    json: JsonOption = False,
    wait: WaitOption = False,
) -> None:
    """Request a run of ASSETS.  Example: arco runs request raw_events -p 2024-01-01 --wait"""
    with reported_errors(json):
        tags = parse_pairs(tag, "--tag")
        body = {"asset_selection": assets, "partition_keys": partition, "tags": tags}
        client = ApiClient.resolve(url, token)
        accepted = client.post("/runs", body, idempotency_key=request_id)
        result = wait_for_run(client, accepted["id"], quiet=json) if wait else accepted
    if json:
        print_json(result)
    else:
        console.print(
            f"requested run [bold]{accepted['id']}[/bold] (event {accepted['accepted_event_id']})"
        )
        if wait:
            console.print(f"finished: {result['state']}")
    if wait and result.get("state") != "succeeded":
        raise typer.Exit(code=1)


@app.command("cancel")
def cancel_command(
    run_id: str,
    reason: Annotated[str | None, typer.Option(help="Why (kept in the ledger)")] = None,
    url: UrlOption = None,
    token: TokenOption = None,
    json: JsonOption = False,
) -> None:
    """Cancel a run: nothing new is dispatched, running tasks are signalled."""
    with reported_errors(json):
        accepted = ApiClient.resolve(url, token).post(f"/runs/{run_id}/cancel", {"reason": reason})
    if json:
        print_json(accepted)
    else:
        console.print(f"cancel requested for {run_id} (event {accepted['accepted_event_id']})")


@app.command("tasks")
def tasks_command(
    run_id: str,
    state: Annotated[str | None, typer.Option(help="Only tasks in this state")] = None,
    url: UrlOption = None,
    token: TokenOption = None,
    json: JsonOption = False,
) -> None:
    """List a run's tasks in plan order."""
    with reported_errors(json):
        items = ApiClient.resolve(url, token).pages(
            f"/runs/{run_id}/tasks", state=state, fresh="true"
        )
    columns = [
        ("task", "task_key"),
        ("state", "state"),
        ("attempt", "attempt"),
        ("worker", "worker_id"),
    ]
    render(items, columns, as_json=json, title=f"tasks of {run_id}")


def read_logs(client: ApiClient, run_id: str, task: str, attempt: int | None) -> dict[str, Any]:
    """The whole compute log of one attempt, following ``next_offset`` past the page size."""
    log: dict[str, Any] = client.get(
        f"/runs/{run_id}/logs", task_key=task, attempt=attempt, fresh="true"
    )
    while any(log[s]["next_offset"] < log[s]["size"] for s in ("stdout", "stderr")):
        more = client.get(
            f"/runs/{run_id}/logs",
            task_key=task,
            attempt=log["attempt"],
            stdout_offset=log["stdout"]["next_offset"],
            stderr_offset=log["stderr"]["next_offset"],
        )
        if all(more[s]["next_offset"] == log[s]["next_offset"] for s in ("stdout", "stderr")):
            break  # no progress (the file shrank?): show what we have
        for name in ("stdout", "stderr"):
            log[name]["text"] += more[name]["text"]
            log[name]["next_offset"] = more[name]["next_offset"]
            log[name]["size"] = more[name]["size"]
    return log


@app.command("logs")
def logs_command(
    run_id: str,
    task: Annotated[str, typer.Option("--task", help="Task key (see `arco runs tasks RUN_ID`)")],
    attempt: Annotated[
        int | None, typer.Option(min=1, help="Attempt number (default: the latest)")
    ] = None,
    stream: Annotated[
        str, typer.Option(help="stdout, stderr (with context.log lines) or both")
    ] = "both",
    url: UrlOption = None,
    token: TokenOption = None,
    json: JsonOption = False,
) -> None:
    """Print a task attempt's compute log.  Example: arco runs logs run_123 --task raw --attempt 2"""
    with reported_errors(json):
        if stream not in ("stdout", "stderr", "both"):
            raise ValidationError(
                f"unknown stream {stream!r}",
                field="--stream",
                value=stream,
                allowed=["stdout", "stderr", "both"],
            )
        log = read_logs(ApiClient.resolve(url, token), run_id, task, attempt)
    if json:
        print_json(log)
        return
    for name in ("stdout", "stderr"):
        if stream in (name, "both"):
            if stream == "both":
                err_console.print(f"[dim]--- {name} (attempt {log['attempt']}) ---[/dim]")
            sys.stdout.write(log[name]["text"])
            sys.stdout.flush()
