"""``arco conflicts``: run keys requested again with another fingerprint."""

from __future__ import annotations

from typing import Annotated

import typer

from arco.cli.client import ApiClient, TokenOption, UrlOption
from arco.cli.common import JsonOption, render, reported_errors

app = typer.Typer(help="Run-key conflicts (same run key, different request).", no_args_is_help=True)

COLUMNS = [
    ("run key", "run_key"),
    ("existing run", "existing_run_id"),
    ("conflicting source", "conflicting_source"),
    ("detected at", "detected_at"),
]


@app.command("list")
def list_command(
    since: Annotated[
        str | None, typer.Option(help="ISO-8601 lower bound on detection time")
    ] = None,
    limit: Annotated[int, typer.Option(help="At most this many conflicts")] = 50,
    url: UrlOption = None,
    token: TokenOption = None,
    json: JsonOption = False,
) -> None:
    """List run-key conflicts, newest first.

    A conflict means something asked for an existing run key with a different
    request (assets, partitions or tags); Arco kept the first run and created
    nothing. Example: arco conflicts list --since 2024-03-01T00:00:00Z --json
    """
    with reported_errors(json):
        items = ApiClient.resolve(url, token).pages(
            "/conflicts", limit=limit, since=since, fresh="true"
        )
    render(items, COLUMNS, as_json=json, title="run-key conflicts")
