"""``arco schedules``: list, show, create, update, pause, resume, trigger, ticks."""

from __future__ import annotations

import json as jsonlib
from typing import Annotated, Any

import typer

from arco.cli.client import ApiClient, TokenOption, UrlOption
from arco.cli.common import (
    JsonOption,
    console,
    given,
    parse_pairs,
    print_accepted,
    print_json,
    render,
    reported_errors,
)
from arco.cli.options import PausedOption, ReplaceTagsOption, RequestIdOption, TagOption
from arco.cli.runs import wait_for_run
from arco.errors import ValidationError

ScheduleRef = Annotated[
    str, typer.Argument(help="The schedule's id or name (see `arco schedules list`)")
]
app = typer.Typer(
    help="Schedules: list, show, create, update, pause, resume, trigger, ticks.",
    no_args_is_help=True,
)

SCHEDULE_COLUMNS = [
    ("schedule id", "schedule_id"),
    ("name", "name"),
    ("cron", "cron"),
    ("timezone", "timezone"),
    ("enabled", "enabled"),
    ("version", "definition_version"),
    ("assets", "asset_selection"),
]
TICK_COLUMNS = [
    ("tick id", "tick_id"),
    ("scheduled at", "scheduled_at"),
    ("status", "status"),
    ("reason", "reason"),
    ("run id", "run_id"),
    ("skipped", "skipped_count"),
    ("error", "error"),
]

NameOption = Annotated[str | None, typer.Option("--name", help="Display name")]
CronOption = Annotated[
    str | None,
    typer.Option("--cron", help="5 or 6 fields (seconds last), or @hourly/@daily/…"),
]
TimezoneOption = Annotated[
    str | None, typer.Option("--timezone", help="IANA zone, e.g. America/New_York")
]
AssetOption = Annotated[
    list[str] | None, typer.Option("--asset", "-a", help="Asset key (repeatable)")
]
CatchupWindowOption = Annotated[
    int | None,
    typer.Option(
        "--catchup-window-minutes", min=0, help="Missed ticks older than this are skipped"
    ),
]
MaxCatchupOption = Annotated[
    int | None, typer.Option("--max-catchup-ticks", min=1, help="At most this many missed ticks")
]
CatchUpOnResumeOption = Annotated[
    bool | None,
    typer.Option(
        "--catch-up-on-resume/--no-catch-up-on-resume",
        help="Run the ticks missed while paused when resumed",
        show_default=False,
    ),
]
DescriptionOption = Annotated[str | None, typer.Option("--description", help="Free text")]
PartitionsOption = Annotated[
    str | None,
    typer.Option(
        "--partitions",
        help='JSON target partition, e.g. \'{"partitions_def": {"kind": "daily", …}, "offset": -1}\'',
    ),
]
ExpectedVersionOption = Annotated[
    int | None,
    typer.Option(
        "--expected-version", min=1, help="Refuse (409) unless this is still the current version"
    ),
]


def _partitions(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return jsonlib.loads(text)
    except jsonlib.JSONDecodeError as error:
        raise ValidationError(
            f"--partitions is not JSON: {error}",
            field="--partitions",
            value=text,
            allowed='{"partitions_def": {...}, "offset": -1}',
        ) from None


def _flat(schedule: dict[str, Any]) -> dict[str, Any]:
    """A schedule with its spec's fields alongside (for table columns)."""
    return {**schedule.get("spec", {}), **schedule}


def _switch(
    action: str,
    schedule_id: ScheduleRef,
    expected_version: int | None,
    url: str | None,
    token: str | None,
    as_json: bool,
) -> None:
    """Pause or resume (at ``expected_version``, when given)."""
    with reported_errors(as_json):
        accepted = ApiClient.resolve(url, token).post(
            f"/schedules/{schedule_id}/{action}", {"expected_version": expected_version}
        )
    print_accepted(accepted, f"{action}d schedule {schedule_id}", as_json)


@app.command("list")
def list_command(
    enabled: Annotated[
        bool | None,
        typer.Option("--enabled/--paused", help="Only running or only paused schedules"),
    ] = None,
    limit: Annotated[int, typer.Option(help="At most this many schedules")] = 100,
    url: UrlOption = None,
    token: TokenOption = None,
    json: JsonOption = False,
) -> None:
    """List schedules by name.  Example: arco schedules list --paused --json"""
    params = {"enabled": None if enabled is None else str(enabled).lower()}
    with reported_errors(json):
        items = ApiClient.resolve(url, token).pages(
            "/schedules", limit=limit, fresh="true", **params
        )
    if json:
        print_json(items)
    else:
        render([_flat(item) for item in items], SCHEDULE_COLUMNS, as_json=False, title="schedules")


@app.command("show")
def show_command(
    schedule_id: ScheduleRef,
    url: UrlOption = None,
    token: TokenOption = None,
    json: JsonOption = False,
) -> None:
    """Show a schedule: its definition, last tick and next tick.

    Example: arco schedules show 01J2Z3... --json
    """
    with reported_errors(json):
        schedule = ApiClient.resolve(url, token).get(f"/schedules/{schedule_id}", fresh="true")
    if json:
        print_json(schedule)
        return
    render([_flat(schedule)], SCHEDULE_COLUMNS, as_json=False)
    spec, state = schedule.get("spec", {}), schedule.get("state") or {}
    console.print(f"next tick: {schedule.get('next_tick_at') or '(paused)'}")
    console.print(f"last tick: {state.get('last_tick_id') or '(none)'}")
    console.print(
        f"catch-up: window {spec.get('catchup_window_minutes')} min, "
        f"at most {spec.get('max_catchup_ticks')} ticks, "
        f"on resume: {spec.get('catch_up_on_resume')}"
    )


@app.command("create")
def create_command(
    name: Annotated[str | None, typer.Argument(help="Display name (can change later)")] = None,
    name_option: Annotated[str | None, typer.Option("--name", hidden=True)] = None,
    *,
    cron: Annotated[str, typer.Option("--cron", help="5 or 6 fields (seconds last), or @daily…")],
    asset: Annotated[list[str], typer.Option("--asset", "-a", help="Asset key (repeatable)")],
    timezone: Annotated[str, typer.Option("--timezone", help="IANA zone")] = "UTC",
    catchup_window_minutes: CatchupWindowOption = None,
    max_catchup_ticks: MaxCatchupOption = None,
    catch_up_on_resume: CatchUpOnResumeOption = None,
    tag: TagOption = None,
    description: DescriptionOption = None,
    partitions: PartitionsOption = None,
    paused: PausedOption = False,
    schedule_id: Annotated[
        str | None, typer.Option("--id", help="Choose the schedule id (default: a new one)")
    ] = None,
    request_id: RequestIdOption = None,
    url: UrlOption = None,
    token: TokenOption = None,
    json: JsonOption = False,
) -> None:
    """Create a schedule.

    Example: arco schedules create nightly --cron "30 2 * * *" --timezone America/New_York -a raw -a daily_report
    """
    display_name = _one_name(name, name_option)
    with reported_errors(json):
        body: dict[str, Any] = {
            "name": display_name,
            "cron": cron,
            "timezone": timezone,
            "asset_selection": asset,
            "enabled": not paused,
            "schedule_id": schedule_id,
            "tags": parse_pairs(tag, "--tag"),
            "description": description,
            "partitions": _partitions(partitions),
            **given(
                catchup_window_minutes=catchup_window_minutes,
                max_catchup_ticks=max_catchup_ticks,
                catch_up_on_resume=catch_up_on_resume,
            ),
        }
        accepted = ApiClient.resolve(url, token).post(
            "/schedules", body, idempotency_key=request_id
        )
    print_accepted(accepted, f"created schedule [bold]{accepted['id']}[/bold]", json)


@app.command("update")
def update_command(
    schedule_id: ScheduleRef,
    name: NameOption = None,
    cron: CronOption = None,
    timezone: TimezoneOption = None,
    asset: AssetOption = None,
    catchup_window_minutes: CatchupWindowOption = None,
    max_catchup_ticks: MaxCatchupOption = None,
    catch_up_on_resume: CatchUpOnResumeOption = None,
    tag: ReplaceTagsOption = None,
    description: DescriptionOption = None,
    partitions: PartitionsOption = None,
    expected_version: ExpectedVersionOption = None,
    url: UrlOption = None,
    token: TokenOption = None,
    json: JsonOption = False,
) -> None:
    """Change some fields of a schedule (the others stay).

    Example: arco schedules update 01J2Z3... --cron "0 3 * * *" --expected-version 2
    """
    with reported_errors(json):
        body = given(
            name=name,
            cron=cron,
            timezone=timezone,
            asset_selection=asset,
            catchup_window_minutes=catchup_window_minutes,
            max_catchup_ticks=max_catchup_ticks,
            catch_up_on_resume=catch_up_on_resume,
            tags=None if tag is None else parse_pairs(tag, "--tag"),
            description=description,
            partitions=_partitions(partitions),
            expected_version=expected_version,
        )
        accepted = ApiClient.resolve(url, token).patch(f"/schedules/{schedule_id}", body)
    print_accepted(accepted, f"updated schedule {schedule_id}", json)


@app.command("pause")
def pause_command(
    schedule_id: ScheduleRef,
    expected_version: ExpectedVersionOption = None,
    url: UrlOption = None,
    token: TokenOption = None,
    json: JsonOption = False,
) -> None:
    """Pause a schedule: its ticks are recorded as skipped (reason paused).

    Example: arco schedules pause 01J2Z3...
    """
    _switch("pause", schedule_id, expected_version, url, token, json)


@app.command("resume")
def resume_command(
    schedule_id: ScheduleRef,
    expected_version: ExpectedVersionOption = None,
    url: UrlOption = None,
    token: TokenOption = None,
    json: JsonOption = False,
) -> None:
    """Resume a schedule from now on (missed ticks run only with catch_up_on_resume).

    Example: arco schedules resume 01J2Z3...
    """
    _switch("resume", schedule_id, expected_version, url, token, json)


@app.command("trigger")
def trigger_command(
    schedule_id: ScheduleRef,
    wait: Annotated[bool, typer.Option("--wait", help="Wait until the run finishes.")] = False,
    url: UrlOption = None,
    token: TokenOption = None,
    json: JsonOption = False,
) -> None:
    """Tick now (paused or not); prints the tick id and the run it requested.

    Example: arco schedules trigger 01J2Z3... --wait
    """
    with reported_errors(json):
        client = ApiClient.resolve(url, token)
        tick = client.post(f"/schedules/{schedule_id}/trigger")
        run = wait_for_run(client, tick["run_id"], quiet=json) if wait and tick["run_id"] else None
    if json:
        print_json(tick if run is None else {**tick, "run": run})
    else:
        console.print(f"tick [bold]{tick['tick_id']}[/bold]: {tick['status']}")
        if tick.get("run_id"):
            console.print(f"run {tick['run_id']}")
        if run is not None:
            console.print(f"finished: {run['state']}")
    if wait and (run is None or run["state"] != "succeeded"):
        raise typer.Exit(code=1)


@app.command("ticks")
def ticks_command(
    schedule_id: Annotated[
        str | None, typer.Argument(help="One schedule, by id or name (default: every schedule)")
    ] = None,
    status: Annotated[str | None, typer.Option(help="triggered, skipped or failed")] = None,
    since: Annotated[str | None, typer.Option(help="ISO-8601: scheduled at or after")] = None,
    until: Annotated[str | None, typer.Option(help="ISO-8601: scheduled at or before")] = None,
    limit: Annotated[int, typer.Option(help="At most this many ticks")] = 50,
    url: UrlOption = None,
    token: TokenOption = None,
    json: JsonOption = False,
) -> None:
    """Tick history, newest first.

    Example: arco schedules ticks 01J2Z3... --status skipped --since 2024-03-01T00:00:00Z
    """
    path = "/schedules/ticks" if schedule_id is None else f"/schedules/{schedule_id}/ticks"
    with reported_errors(json):
        items = ApiClient.resolve(url, token).pages(
            path, limit=limit, status=status, since=since, until=until, fresh="true"
        )
    render(items, TICK_COLUMNS, as_json=json, title="ticks")


def _one_name(positional: str | None, option: str | None) -> str:
    """NAME is positional, as for sensors; ``--name`` is still accepted (hidden)."""
    if positional and option and positional != option:
        raise typer.BadParameter(f"got two names, {positional!r} and {option!r}", param_hint="NAME")
    if not (positional or option):
        raise typer.BadParameter("missing: arco schedules create NAME --cron …", param_hint="NAME")
    return positional or option or ""
