"""``arco daemon`` and ``arco worker``: the long-running processes beside ``arco serve``."""

from __future__ import annotations

import signal
import threading
from datetime import UTC, datetime
from types import FrameType
from typing import Annotated

import typer

from arco.cli.common import (
    DatabaseUrlOption,
    DataDirOption,
    JsonOption,
    console,
    err_console,
    print_json,
    reported_errors,
)
from arco.cli.local import opened_instance
from arco.cli.project import (
    AttributeOption,
    FileOption,
    ModuleOption,
    TenantOption,
    WorkspaceOption,
    load_project,
)
from arco.errors import ValidationError
from arco.logs import configure_logging


def _parse_now(now: str | None) -> datetime | None:
    if now is None:
        return None
    try:
        parsed = datetime.fromisoformat(now)
    except ValueError as error:
        raise ValidationError(
            f"--now is not an ISO-8601 instant: {now!r}",
            field="--now",
            value=now,
            allowed="e.g. 2024-03-10T07:00:00Z or 2024-03-10T02:30:00-05:00",
        ) from error
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _stop_on_signals(stop: threading.Event, wake: threading.Event | None = None) -> None:
    def handler(_signum: int, _frame: FrameType | None) -> None:
        stop.set()
        if wake is not None:
            wake.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)


def daemon_command(
    module: ModuleOption = None,
    file: FileOption = None,
    attribute: AttributeOption = None,
    data_dir: DataDirOption = None,
    database_url: DatabaseUrlOption = None,
    tenant: TenantOption = "default",
    workspace: WorkspaceOption = "default",
    once: Annotated[bool, typer.Option("--once", help="Run exactly one pass, then exit.")] = False,
    now: Annotated[
        str | None, typer.Option(help="With --once: the instant the pass runs as (ISO-8601).")
    ] = None,
    interval: Annotated[float, typer.Option(help="Longest sleep between passes (s).")] = 2.0,
    json: JsonOption = False,
) -> None:
    """Run the controllers (schedules, sensors, backfills, runs) and the compactor.

    Syncs the project's schedules and sensors into the ledger first (ids stay
    stable across restarts). A local SQLite store is upgraded and gets a
    generated tenant secret; PostgreSQL needs `arco db upgrade` and configured secrets.

    Examples: arco daemon -f definitions.py ·
    arco daemon -f definitions.py --once --now 2024-03-10T08:00:00Z --json
    """
    configure_logging()
    with reported_errors(json):
        instant = _parse_now(now)
        if instant is not None and not once:
            raise ValidationError("--now only makes sense with --once", field="--now")
        definitions = load_project(module, file, attribute)
        with opened_instance(data_dir, database_url, tenant, workspace, definitions) as opened:
            daemon = opened.daemon(interval)
            if once:
                reports = daemon.run_once(instant)
                opened.instance.compactor.catch_up()
                rows = [
                    vars(r) | {"next_due": r.next_due and r.next_due.isoformat()} for r in reports
                ]
                if json:
                    print_json(rows)
                else:
                    for row in rows:
                        console.print(
                            f"{row['controller']:<10} decisions={row['decisions']} "
                            f"appended={row['appended']} duplicates={row['duplicates']} "
                            f"errors={row['errors']} next_due={row['next_due']}"
                        )
                return
            stop = threading.Event()
            _stop_on_signals(stop, daemon.wake)
            err_console.print("arco daemon running (Ctrl-C to stop)")
            daemon.run_forever(stop)


def worker_command(
    module: ModuleOption = None,
    file: FileOption = None,
    attribute: AttributeOption = None,
    data_dir: DataDirOption = None,
    database_url: DatabaseUrlOption = None,
    concurrency: Annotated[int, typer.Option(min=1, help="Tasks run at once.")] = 2,
    worker_id: Annotated[str | None, typer.Option(help="Name shown on claimed tasks.")] = None,
    in_process: Annotated[
        bool, typer.Option(help="Run tasks in threads instead of one subprocess each.")
    ] = False,
) -> None:
    """Claim dispatched tasks and run the asset code, one subprocess per attempt.

    A crash in user code is a failed attempt with its traceback, not a dead worker.
    Example: arco worker -f definitions.py --concurrency 4
    """
    configure_logging()
    with reported_errors():
        definitions = load_project(module, file, attribute)
        if definitions is None:
            raise ValidationError(
                "a worker needs the project: pass -m MODULE or -f FILE", field="--file"
            )
        from arco.runtime.worker import WorkerSettings, run_worker

        with opened_instance(data_dir, database_url, "default", "default", None) as opened:
            stop = threading.Event()
            _stop_on_signals(stop)
            settings = WorkerSettings(logs_dir=opened.logs_dir, concurrency=concurrency)
            err_console.print(f"arco worker running with {concurrency} slot(s) (Ctrl-C to stop)")
            report = run_worker(
                opened.env, definitions, concurrency, worker_id, stop, in_process, settings=settings
            )
            err_console.print(f"worker stopped: {report}")
