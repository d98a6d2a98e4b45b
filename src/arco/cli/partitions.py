"""``arco partitions``: assets, an asset's partitions with their status, stale ones, a summary."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

import typer

from arco.cli.client import ApiClient, TokenOption, UrlOption
from arco.cli.common import JsonOption, console, print_json, render, reported_errors

app = typer.Typer(
    help="Partitions: assets, list (with status), show, stale, summary.", no_args_is_help=True
)

STATUSES = "NEVER_MATERIALIZED, MATERIALIZED, MATERIALIZED_LAST_ATTEMPT_FAILED, STALE, IN_PROGRESS"
PARTITION_COLUMNS = [
    ("partition", "partition_key"),
    ("status", "status"),
    ("stale because", "stale_reasons"),
    ("materialized at", "last_materialization_at"),
    ("by run", "last_materialization_run_id"),
    ("last attempt", "last_attempt_outcome"),
]
ASSET_COLUMNS = [
    ("asset", "asset_key"),
    ("partitions", "partition_count"),
    ("partitioned by", "partitions_description"),
    ("deps", "deps"),
    ("code version", "code_version"),
]

AssetArgument = Annotated[
    str, typer.Argument(help="Asset key, e.g. raw_events or warehouse/orders")
]
LimitOption = Annotated[int | None, typer.Option(help="At most this many partitions")]


def _asset_path(asset: str) -> str:
    return f"/assets/{quote(asset, safe='/')}"


@app.command("assets")
def assets_command(
    url: UrlOption = None, token: TokenOption = None, json: JsonOption = False
) -> None:
    """The server's project: its assets and how each is partitioned.

    Example: arco partitions assets --json
    """
    with reported_errors(json):
        items = ApiClient.resolve(url, token).pages("/assets")
    render(items, ASSET_COLUMNS, as_json=json, title="assets")


@app.command("list")
def list_command(
    asset: AssetArgument,
    status: Annotated[str | None, typer.Option(help=f"Only this status: {STATUSES}")] = None,
    limit: LimitOption = 100,
    url: UrlOption = None,
    token: TokenOption = None,
    json: JsonOption = False,
) -> None:
    """An asset's partitions with their status, in the definition's order.

    Examples: arco partitions list raw_events · arco partitions list daily_summary --status STALE --json
    """
    with reported_errors(json):
        items = ApiClient.resolve(url, token).pages(
            f"{_asset_path(asset)}/partitions", limit=limit, status=status, fresh="true"
        )
    render(items, PARTITION_COLUMNS, as_json=json, title=f"partitions of {asset}")


@app.command("show")
def show_command(
    asset: AssetArgument,
    partition_key: Annotated[str, typer.Argument(help="The partition, e.g. 2024-01-05")],
    url: UrlOption = None,
    token: TokenOption = None,
    json: JsonOption = False,
) -> None:
    """One partition: status, why it is stale, its last materialization and attempt.

    Example: arco partitions show daily_summary 2024-01-05
    """
    with reported_errors(json):
        found = ApiClient.resolve(url, token).get(
            f"{_asset_path(asset)}/partitions/{quote(partition_key, safe='')}", fresh="true"
        )
    if json:
        print_json(found)
    else:
        render([found], PARTITION_COLUMNS, as_json=False)


@app.command("stale")
def stale_command(
    asset: Annotated[str | None, typer.Argument(help="One asset (default: every asset)")] = None,
    limit: LimitOption = 100,
    url: UrlOption = None,
    token: TokenOption = None,
    json: JsonOption = False,
) -> None:
    """Materialized partitions that are stale now, with the reasons.

    Examples: arco partitions stale · arco partitions stale daily_summary --json
    """
    with reported_errors(json):
        items = ApiClient.resolve(url, token).pages(
            "/partitions/stale", limit=limit, asset_key=asset, fresh="true"
        )
    columns = [("asset", "asset_key"), *PARTITION_COLUMNS, ("stale since", "stale_since")]
    render(items, columns, as_json=json, title="stale partitions")


@app.command("summary")
def summary_command(
    asset: AssetArgument,
    url: UrlOption = None,
    token: TokenOption = None,
    json: JsonOption = False,
) -> None:
    """An asset's partitions counted per status and per staleness reason.

    Example: arco partitions summary raw_events
    """
    with reported_errors(json):
        summary: dict[str, Any] = ApiClient.resolve(url, token).get(
            f"{_asset_path(asset)}/partitions/summary", fresh="true"
        )
    if json:
        print_json(summary)
        return
    rows = [{"status": s, "count": n} for s, n in summary["counts"].items()]
    render(rows, [("status", "status"), ("partitions", "count")], as_json=False, title=asset)
    console.print(
        f"total: {summary['total']}, last attempt failed: {summary['last_attempt_failed']}"
    )
    reasons = ", ".join(f"{r} {n}" for r, n in summary["stale_by_reason"].items() if n)
    console.print(f"stale because: {reasons or '(nothing is stale)'}")
