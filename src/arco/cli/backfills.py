"""``arco backfills``: preview, create, list, show, chunks, pause, resume, cancel, retry-failed."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import typer

from arco.cli.client import ApiClient, TokenOption, UrlOption
from arco.cli.common import (
    JsonOption,
    console,
    parse_pairs,
    print_accepted,
    print_json,
    render,
    reported_errors,
)
from arco.cli.options import TagOption
from arco.cli.progress import wait_until
from arco.cli.selectors import FilterOption, FromOption, KeyOption, ToOption, partition_selector

app = typer.Typer(
    help="Backfills: preview, create, list, show, chunks, pause, resume, cancel, retry-failed.",
    no_args_is_help=True,
)

TERMINAL = {"SUCCEEDED", "FAILED", "CANCELLED"}
BACKFILL_COLUMNS = [
    ("backfill id", "backfill_id"),
    ("state", "display_state"),
    ("version", "state_version"),
    ("assets", "asset_selection"),
    ("partitions done", "partitions_done"),
    ("failed", "partitions_failed"),
    ("chunks", "chunks_done"),
    ("created at", "created_at"),
]
CHUNK_COLUMNS = [
    ("chunk", "chunk_index"),
    ("state", "display_state"),
    ("partitions", "partition_count"),
    ("first key", "first_key"),
    ("last key", "last_key"),
    ("run id", "run_id"),
]

AssetOption = Annotated[
    list[str], typer.Option("--asset", "-a", help="Asset key (repeatable; one partitions def)")
]
ChunkSizeOption = Annotated[int, typer.Option("--chunk-size", min=1, help="Partitions per run")]
WaitOption = Annotated[
    bool, typer.Option("--wait", help="Follow it with a progress bar until it ends")
]
ExpectedVersionOption = Annotated[
    int | None,
    typer.Option(
        "--expected-version",
        min=0,
        help="Refuse (409) unless this is still the state_version (default: the one read now)",
    ),
]
ReasonOption = Annotated[str | None, typer.Option("--reason", help="Why (kept in the ledger)")]


# --- helpers ----------------------------------------------------------------------------


def _flat(backfill: dict[str, Any]) -> dict[str, Any]:
    """A backfill with its progress as table cells."""
    parts, chunks = _counters(backfill, "partitions"), _counters(backfill, "chunks")
    return {
        **backfill,
        "partitions_done": f"{_done(parts)}/{parts.get('total', 0)}",
        "partitions_failed": int(parts.get("failed", 0)) + int(parts.get("cancelled", 0)),
        "chunks_done": f"{_done(chunks)}/{chunks.get('total', 0)}",
    }


def _counters(backfill: dict[str, Any], name: str) -> dict[str, Any]:
    counters: dict[str, Any] = backfill.get("counters", {}).get(name, {})
    return counters


def _done(counters: dict[str, Any]) -> int:
    return sum(int(counters.get(s, 0)) for s in ("succeeded", "failed", "cancelled"))


def _progress(backfill: dict[str, Any]) -> tuple[int, int]:
    parts = _counters(backfill, "partitions")
    return _done(parts), int(parts.get("total", 0))


def wait_for_backfill(client: ApiClient, backfill_id: str, *, quiet: bool) -> dict[str, Any]:
    """Poll until a terminal state, showing partitions done / total."""
    return wait_until(
        lambda: client.get(f"/backfills/{backfill_id}", fresh="true"),
        lambda backfill: backfill["state"] in TERMINAL,
        _progress,
        label=f"backfill {backfill_id}",
        quiet=quiet,
    )


def _report(backfill: dict[str, Any]) -> None:
    """A backfill as a one-row table and its counters."""
    render([_flat(backfill)], BACKFILL_COLUMNS, as_json=False)
    counters = backfill.get("counters", {})
    for name in ("partitions", "chunks"):
        values = counters.get(name, {})
        shown = ", ".join(f"{k} {values[k]}" for k in sorted(values) if k != "total")
        console.print(f"{name}: {values.get('total', 0)} ({shown})")
    if backfill.get("parent_backfill_id"):
        console.print(f"retry of {backfill['parent_backfill_id']}")
    if backfill.get("retry_backfill_ids"):
        console.print(f"retried by {', '.join(backfill['retry_backfill_ids'])}")


def _finish(
    client: ApiClient, accepted: dict[str, Any], what: str, *, wait: bool, as_json: bool
) -> None:
    """Print what was accepted; with --wait follow the backfill (exit 1 unless SUCCEEDED)."""
    backfill = wait_for_backfill(client, accepted["id"], quiet=as_json) if wait else None
    if as_json:
        print_json(accepted if backfill is None else {**accepted, "backfill": backfill})
    else:
        again = " (already so)" if accepted.get("duplicate") else ""
        console.print(f"{what} [bold]{accepted['id']}[/bold]{again}")
        if backfill is not None:
            _report(backfill)
    if backfill is not None and backfill["state"] != "SUCCEEDED":
        raise typer.Exit(code=1)


# --- commands ---------------------------------------------------------------------------


@app.command("preview")
def preview_command(
    asset: AssetOption,
    start: FromOption = None,
    end: ToOption = None,
    key: KeyOption = None,
    filter_: FilterOption = None,
    chunk_size: ChunkSizeOption = 10,
    url: UrlOption = None,
    token: TokenOption = None,
    json: JsonOption = False,
) -> None:
    """Count the partitions and chunks a backfill would have; creates nothing.

    Example: arco backfills preview -a raw_events --from 2024-01-01 --to 2024-12-31 --chunk-size 30
    """
    with reported_errors(json):
        body = {
            "asset_selection": asset,
            "selector": partition_selector(start, end, key, filter_),
            "chunk_size": chunk_size,
        }
        found = ApiClient.resolve(url, token).post("/backfills/preview", body)
    if json:
        print_json(found)
        return
    console.print(
        f"{found['partition_count']} partitions in {found['chunk_count']} chunks "
        f"of up to {found['chunk_size']}"
    )
    console.print(f"first chunk: {', '.join(found['first_chunk_keys'])}")


@app.command("create")
def create_command(
    asset: AssetOption,
    start: FromOption = None,
    end: ToOption = None,
    key: KeyOption = None,
    filter_: FilterOption = None,
    chunk_size: ChunkSizeOption = 10,
    max_concurrent_runs: Annotated[
        int | None,
        typer.Option("--max-concurrent-runs", min=1, help="Chunks running at once (default: all)"),
    ] = None,
    tag: TagOption = None,
    request_id: Annotated[
        str | None, typer.Option("--request-id", help="Idempotency key: the same id, one backfill")
    ] = None,
    wait: WaitOption = False,
    url: UrlOption = None,
    token: TokenOption = None,
    json: JsonOption = False,
) -> None:
    """Create a backfill: one run per chunk of partitions.

    With --wait, follow it until it ends; exit code 1 unless it SUCCEEDED.

    Examples: arco backfills create -a raw_events -a daily_summary --from 2024-01-01 --to 2024-03-31 --wait ·
    arco backfills create -a raw_events --key 2024-01-05 --key 2024-01-09 ·
    arco backfills create -a sales --filter region=us-* --from 2024-01-01 --to 2024-01-31
    """
    with reported_errors(json):
        body = {
            "asset_selection": asset,
            "selector": partition_selector(start, end, key, filter_),
            "chunk_size": chunk_size,
            "max_concurrent_runs": max_concurrent_runs,
            "tags": parse_pairs(tag, "--tag"),
        }
        client = ApiClient.resolve(url, token)
        accepted = client.post("/backfills", body, idempotency_key=request_id)
        _finish(client, accepted, "created backfill", wait=wait, as_json=json)


@app.command("list")
def list_command(
    state: Annotated[
        str | None,
        typer.Option(help="PENDING, RUNNING, PAUSED, CANCELLING, SUCCEEDED, FAILED, CANCELLED"),
    ] = None,
    since: Annotated[str | None, typer.Option(help="ISO-8601: created at or after")] = None,
    until: Annotated[str | None, typer.Option(help="ISO-8601: created at or before")] = None,
    limit: Annotated[int, typer.Option(help="At most this many backfills")] = 50,
    url: UrlOption = None,
    token: TokenOption = None,
    json: JsonOption = False,
) -> None:
    """List backfills, newest first, with their progress.

    Example: arco backfills list --state FAILED --json
    """
    with reported_errors(json):
        items = ApiClient.resolve(url, token).pages(
            "/backfills", limit=limit, state=state, since=since, until=until, fresh="true"
        )
    if json:
        print_json(items)
    else:
        render([_flat(item) for item in items], BACKFILL_COLUMNS, as_json=False, title="backfills")


@app.command("show")
def show_command(
    backfill_id: str,
    wait: WaitOption = False,
    url: UrlOption = None,
    token: TokenOption = None,
    json: JsonOption = False,
) -> None:
    """Show a backfill: state, state_version (for pause/resume/cancel), counters.

    Example: arco backfills show 01J2Z3... --json
    """
    with reported_errors(json):
        client = ApiClient.resolve(url, token)
        backfill = (
            wait_for_backfill(client, backfill_id, quiet=json)
            if wait
            else client.get(f"/backfills/{backfill_id}", fresh="true")
        )
    if json:
        print_json(backfill)
    else:
        _report(backfill)
    if wait and backfill["state"] != "SUCCEEDED":
        raise typer.Exit(code=1)


@app.command("chunks")
def chunks_command(
    backfill_id: str,
    state: Annotated[
        str | None, typer.Option(help="planned, succeeded, failed or cancelled")
    ] = None,
    limit: Annotated[int | None, typer.Option(help="At most this many chunks")] = None,
    url: UrlOption = None,
    token: TokenOption = None,
    json: JsonOption = False,
) -> None:
    """A backfill's chunks in order, each with its partitions and run.

    Example: arco backfills chunks 01J2Z3... --state failed
    """
    with reported_errors(json):
        items = ApiClient.resolve(url, token).pages(
            f"/backfills/{backfill_id}/chunks", limit=limit, state=state, fresh="true"
        )
    if json:
        print_json(items)
        return
    rows = [
        {**c, "first_key": c["partition_keys"][0], "last_key": c["partition_keys"][-1]}
        for c in items
    ]
    render(rows, CHUNK_COLUMNS, as_json=False, title=f"chunks of {backfill_id}")


def _transition(
    action: str,
    backfill_id: str,
    expected_version: int | None,
    reason: str | None,
    url: str | None,
    token: str | None,
    as_json: bool,
) -> None:
    with reported_errors(as_json):
        client = ApiClient.resolve(url, token)
        if expected_version is None:
            current = client.get(f"/backfills/{backfill_id}", fresh="true")
            expected_version = int(current["state_version"])
        accepted = client.post(
            f"/backfills/{backfill_id}/{action}",
            {"expected_state_version": expected_version, "reason": reason},
        )
    print_accepted(
        {**accepted, "expected_state_version": expected_version},
        f"{action} of backfill {backfill_id} accepted at state_version {expected_version}",
        as_json,
    )


@app.command("pause")
def pause_command(
    backfill_id: str,
    expected_version: ExpectedVersionOption = None,
    reason: ReasonOption = None,
    url: UrlOption = None,
    token: TokenOption = None,
    json: JsonOption = False,
) -> None:
    """Pause: plan no new chunks; active chunks finish.

    Example: arco backfills pause 01J2Z3... --expected-version 1 --reason "warehouse maintenance"
    """
    _transition("pause", backfill_id, expected_version, reason, url, token, json)


@app.command("resume")
def resume_command(
    backfill_id: str,
    expected_version: ExpectedVersionOption = None,
    reason: ReasonOption = None,
    url: UrlOption = None,
    token: TokenOption = None,
    json: JsonOption = False,
) -> None:
    """Resume a paused backfill where it stopped.

    Example: arco backfills resume 01J2Z3... --expected-version 2
    """
    _transition("resume", backfill_id, expected_version, reason, url, token, json)


@app.command("cancel")
def cancel_command(
    backfill_id: str,
    expected_version: ExpectedVersionOption = None,
    reason: ReasonOption = None,
    url: UrlOption = None,
    token: TokenOption = None,
    json: JsonOption = False,
) -> None:
    """Cancel: plan nothing new, cancel active runs, then CANCELLED.

    Example: arco backfills cancel 01J2Z3... --reason "wrong range"
    """
    _transition("cancel", backfill_id, expected_version, reason, url, token, json)


@app.command("retry-failed")
def retry_failed_command(
    backfill_id: str,
    request_id: Annotated[
        str | None,
        typer.Option(
            "--request-id",
            help="The same id again answers the same retry (default: a new id each time)",
        ),
    ] = None,
    wait: WaitOption = False,
    url: UrlOption = None,
    token: TokenOption = None,
    json: JsonOption = False,
) -> None:
    """Create a new backfill over the failed partitions of a FAILED or CANCELLED one.

    Example: arco backfills retry-failed 01J2Z3... --request-id retry-monday --wait
    """
    retry_request_id = request_id or f"cli-{uuid.uuid4().hex}"
    with reported_errors(json):
        client = ApiClient.resolve(url, token)
        accepted = client.post(
            f"/backfills/{backfill_id}/retry-failed", {"retry_request_id": retry_request_id}
        )
        _finish(client, accepted, f"retry of {backfill_id}:", wait=wait, as_json=json)
