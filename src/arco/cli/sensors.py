"""``arco sensors``: define, list, show, update, pause/resume, reset the cursor, evaluate, push."""

from __future__ import annotations

import base64
import uuid
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from arco.cli.client import ApiClient, TokenOption, UrlOption
from arco.cli.common import (
    JsonOption,
    console,
    err_console,
    given,
    parse_pairs,
    print_accepted,
    print_json,
    render,
    reported_errors,
)
from arco.cli.options import PausedOption, ReplaceTagsOption, RequestIdOption, TagOption
from arco.errors import ValidationError

app = typer.Typer(
    help="Sensors: list, show, create, update, pause, resume, reset-cursor, evals, evaluate, push.",
    no_args_is_help=True,
)

SENSOR_COLUMNS = [
    ("sensor id", "sensor_id"),
    ("name", "name"),
    ("kind", "kind"),
    ("status", "status"),
    ("interval s", "minimum_interval_seconds"),
    ("cursor", "cursor"),
    ("last evaluated", "last_evaluated_at"),
    ("last result", "last_eval_status"),
]
EVAL_COLUMNS = [
    ("evaluated at", "evaluated_at"),
    ("status", "status"),
    ("message id", "message_id"),
    ("cursor before", "cursor_before"),
    ("cursor after", "cursor_after"),
    ("run keys", "run_keys"),
    ("reason / error", "note"),
]
REQUEST_COLUMNS = [
    ("run key", "run_key"),
    ("run id", "run_id"),
    ("assets", "asset_selection"),
    ("partitions", "partition_selection"),
    ("tags", "tags"),
]
SHOWN_FIELDS = [
    "sensor_id",
    "name",
    "kind",
    "status",
    "description",
    "asset_selection",
    "minimum_interval_seconds",
    "timeout_seconds",
    "tags",
    "cursor",
    "state_version",
    "definition_version",
    "last_evaluated_at",
    "last_eval_status",
    "created_at",
    "updated_at",
]

SensorId = Annotated[str, typer.Argument(help="The sensor's id or name (see `arco sensors list`)")]
AssetOption = Annotated[
    list[str] | None, typer.Option("--asset", "-a", help="Asset key its runs target (repeatable)")
]
IntervalOption = Annotated[
    int | None, typer.Option("--interval", help="Poll sensors: minimum seconds between polls")
]
TimeoutOption = Annotated[
    float | None, typer.Option("--timeout", help="Seconds one evaluation may take")
]
DescriptionOption = Annotated[str | None, typer.Option(help="What the sensor watches")]
DataOption = Annotated[
    str | None, typer.Option("--data", help="Message data as text (sent base64-encoded)")
]
DataFileOption = Annotated[
    Path | None, typer.Option("--data-file", help="Message data read from a file", exists=True)
]
AttributeOption = Annotated[
    list[str] | None, typer.Option("--attribute", help="Message attribute key=value (repeatable)")
]


@app.command("list")
def list_command(
    kind: Annotated[str | None, typer.Option(help="poll or push")] = None,
    enabled: Annotated[
        bool | None, typer.Option("--enabled/--paused", help="Only running (or paused) sensors")
    ] = None,
    limit: Annotated[int, typer.Option(help="At most this many sensors")] = 100,
    url: UrlOption = None,
    token: TokenOption = None,
    json: JsonOption = False,
) -> None:
    """List sensors by name.  Example: arco sensors list --kind push --paused --json"""
    with reported_errors(json):
        client = ApiClient.resolve(url, token)
        items = client.pages("/sensors", limit=limit, kind=kind, enabled=enabled, fresh="true")
    if not json:  # a push sensor has no interval
        items = [
            {**s, "minimum_interval_seconds": None} if s.get("kind") == "push" else s for s in items
        ]
    render(items, SENSOR_COLUMNS, as_json=json, title="sensors")


@app.command("show")
def show_command(
    sensor_id: SensorId, url: UrlOption = None, token: TokenOption = None, json: JsonOption = False
) -> None:
    """Show one sensor: definition, cursor, last evaluation.  Example: arco sensors show 01J… --json"""
    with reported_errors(json):
        sensor = ApiClient.resolve(url, token).get(f"/sensors/{sensor_id}", fresh="true")
    if json:
        print_json(sensor)
        return
    table = Table("field", "value", title=f"sensor {sensor.get('name', sensor_id)}")
    for name in SHOWN_FIELDS:
        table.add_row(name, _text(sensor.get(name)))
    console.print(table)


@app.command("create")
def create_command(
    name: Annotated[
        str, typer.Argument(help="Unique name; the project's sensor code of this name runs")
    ],
    kind: Annotated[
        str, typer.Option(help="poll (called on an interval) or push (per message)")
    ] = "poll",
    asset: AssetOption = None,
    interval: IntervalOption = None,
    timeout: TimeoutOption = None,
    tag: TagOption = None,
    description: DescriptionOption = None,
    paused: PausedOption = False,
    request_id: RequestIdOption = None,
    url: UrlOption = None,
    token: TokenOption = None,
    json: JsonOption = False,
) -> None:
    """Define a sensor.  Example: arco sensors create new_files --kind poll -a raw_events --interval 60"""
    with reported_errors(json):
        body: dict[str, Any] = {
            "name": name,
            "kind": kind,
            "asset_selection": asset or [],
            "tags": parse_pairs(tag, "--tag"),
            "enabled": not paused,
            **given(
                minimum_interval_seconds=interval, timeout_seconds=timeout, description=description
            ),
        }
        accepted = ApiClient.resolve(url, token).post("/sensors", body, idempotency_key=request_id)
    print_accepted(accepted, f"created sensor [bold]{accepted['id']}[/bold]", json)


@app.command("update")
def update_command(
    sensor_id: SensorId,
    name: Annotated[str | None, typer.Option(help="A new name")] = None,
    asset: Annotated[
        list[str] | None,
        typer.Option("--asset", "-a", help="Asset key (repeatable; replaces the selection)"),
    ] = None,
    interval: IntervalOption = None,
    timeout: TimeoutOption = None,
    tag: ReplaceTagsOption = None,
    description: DescriptionOption = None,
    expected_version: Annotated[
        int | None,
        typer.Option(help="Refuse (409) unless the sensor is still at this definition_version"),
    ] = None,
    url: UrlOption = None,
    token: TokenOption = None,
    json: JsonOption = False,
) -> None:
    """Change what is given; the rest stays.  Example: arco sensors update 01J… --interval 300"""
    with reported_errors(json):
        body = given(
            name=name,
            asset_selection=asset,
            minimum_interval_seconds=interval,
            timeout_seconds=timeout,
            tags=None if tag is None else parse_pairs(tag, "--tag"),
            description=description,
            expected_definition_version=expected_version,
        )
        accepted = ApiClient.resolve(url, token).request(
            "PATCH", f"/sensors/{sensor_id}", body=body
        )
    print_accepted(accepted, f"updated sensor {sensor_id}", json)


@app.command("pause")
def pause_command(
    sensor_id: SensorId, url: UrlOption = None, token: TokenOption = None, json: JsonOption = False
) -> None:
    """Stop evaluating; pushed messages are recorded as skipped.  Example: arco sensors pause 01J…"""
    _switch("pause", sensor_id, url, token, json)


@app.command("resume")
def resume_command(
    sensor_id: SensorId, url: UrlOption = None, token: TokenOption = None, json: JsonOption = False
) -> None:
    """Evaluate again, from the cursor it had.  Example: arco sensors resume 01J…"""
    _switch("resume", sensor_id, url, token, json)


@app.command("reset-cursor")
def reset_cursor_command(
    sensor_id: SensorId,
    cursor: Annotated[str | None, typer.Option(help="The new cursor (omit to start over)")] = None,
    expected_state_version: Annotated[
        int | None, typer.Option(help="Refuse (409) unless the cursor is still at this version")
    ] = None,
    url: UrlOption = None,
    token: TokenOption = None,
    json: JsonOption = False,
) -> None:
    """Set a poll sensor's cursor.  Example: arco sensors reset-cursor 01J… --cursor 2024-01-01

    Old run keys are not run again: a key the sensor asked for before the reset
    still names the run it made.
    """
    body = {"cursor": cursor, "expected_state_version": expected_state_version}
    with reported_errors(json):
        accepted = ApiClient.resolve(url, token).post(f"/sensors/{sensor_id}/reset-cursor", body)
    print_accepted(accepted, f"cursor of {sensor_id} set to {cursor!r}", json)


@app.command("evals")
def evals_command(
    sensor_id: SensorId,
    status: Annotated[
        str | None, typer.Option(help="ok, skipped, error or skipped_stale_cursor")
    ] = None,
    since: Annotated[str | None, typer.Option(help="ISO-8601 lower bound")] = None,
    until: Annotated[str | None, typer.Option(help="ISO-8601 upper bound")] = None,
    limit: Annotated[int, typer.Option(help="At most this many evaluations")] = 50,
    url: UrlOption = None,
    token: TokenOption = None,
    json: JsonOption = False,
) -> None:
    """A sensor's evaluations, newest first.  Example: arco sensors evals 01J… --status error"""
    with reported_errors(json):
        items = ApiClient.resolve(url, token).pages(
            f"/sensors/{sensor_id}/evals",
            limit=limit,
            status=status,
            since=since,
            until=until,
            fresh="true",
        )
    if not json:
        items = [{**item, "note": item.get("error") or item.get("skip_reason")} for item in items]
    render(items, EVAL_COLUMNS, as_json=json, title=f"evaluations of {sensor_id}")


@app.command("evaluate")
def evaluate_command(
    sensor_id: SensorId,
    cursor: Annotated[
        str | None, typer.Option(help="Poll sensors: evaluate from this cursor (default: stored)")
    ] = None,
    data: DataOption = None,
    data_file: DataFileOption = None,
    attribute: AttributeOption = None,
    message_id: Annotated[str | None, typer.Option(help="Push sensors: the sample's id")] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run/--no-dry-run", help="--no-dry-run records the evaluation")
    ] = True,
    url: UrlOption = None,
    token: TokenOption = None,
    json: JsonOption = False,
) -> None:
    """Run the sensor's code now and show what it would request (records nothing by default).

    Push sensors take a sample message (--data/--data-file/--attribute).
    Example: arco sensors evaluate 01J… --data '{"date": "2024-01-05"}'
    """
    with reported_errors(json):
        body: dict[str, Any] = {"dry_run": dry_run}
        if cursor is not None:
            body["cursor"] = cursor
        if data is not None or data_file is not None or attribute or message_id is not None:
            body["sample_payload"] = {
                "data": _data(data, data_file),
                "attributes": parse_pairs(attribute, "--attribute"),
                **given(message_id=message_id),
            }
        result = ApiClient.resolve(url, token).post(f"/sensors/{sensor_id}/evaluate", body)
    _evaluation(result, json)


@app.command("push")
def push_command(
    sensor_id: SensorId,
    data: DataOption = None,
    data_file: DataFileOption = None,
    attribute: AttributeOption = None,
    message_id: Annotated[
        str | None, typer.Option(help="Sending the same id again creates nothing (default: new)")
    ] = None,
    publish_time: Annotated[str | None, typer.Option(help="RFC 3339 publish time")] = None,
    url: UrlOption = None,
    token: TokenOption = None,
    json: JsonOption = False,
) -> None:
    """Send a push sensor one message, as a Pub/Sub push subscription would.

    Example: arco sensors push 01J… --data '{"date": "2024-01-05"}' --message-id m-42
    """
    with reported_errors(json):
        message = {
            "message_id": message_id or uuid.uuid4().hex,
            "data": _data(data, data_file),
            "attributes": parse_pairs(attribute, "--attribute"),
            "publish_time": publish_time,
        }
        result = ApiClient.resolve(url, token).post(
            f"/sensors/{sensor_id}/push", {"message": message}
        )
    _evaluation(result, json)


# --- helpers ----------------------------------------------------------------------------


def _switch(action: str, sensor_id: str, url: str | None, token: str | None, as_json: bool) -> None:
    """Pause or resume."""
    with reported_errors(as_json):
        accepted = ApiClient.resolve(url, token).post(f"/sensors/{sensor_id}/{action}")
    print_accepted(accepted, f"{action}d sensor {sensor_id}", as_json)


def _data(text: str | None, path: Path | None) -> str | None:
    if text is not None and path is not None:
        raise ValidationError(
            "give --data or --data-file, not both",
            field="--data",
            allowed=["--data", "--data-file"],
        )
    if path is not None:
        return base64.b64encode(path.read_bytes()).decode()
    return None if text is None else base64.b64encode(text.encode()).decode()


def _evaluation(result: dict[str, Any], as_json: bool) -> None:
    """Print an evaluation; exit 1 if the sensor's code failed."""
    if as_json:
        print_json(result)
    else:
        if result["dry_run"]:
            recorded = "dry run: nothing recorded"
        else:
            recorded = "already recorded" if result["duplicate"] else "recorded"
        console.print(f"{result['eval_id']}: [bold]{result['status']}[/bold] ({recorded})")
        if result.get("kind") == "poll":
            console.print(f"cursor: {result['cursor_before']!r} -> {result['cursor_after']!r}")
        if result.get("skip_reason"):
            console.print(f"skipped: {result['skip_reason']}")
        if result.get("error"):
            err_console.print(f"[red]sensor error:[/red] {result['error']}")
        render(result["run_requests"], REQUEST_COLUMNS, as_json=False, title="run requests")
    if result["status"] == "error":
        raise typer.Exit(code=1)


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in sorted(value.items()))
    return str(value)
