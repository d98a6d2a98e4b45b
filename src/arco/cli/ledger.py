"""``arco ledger``: read the event log, verify and rebuild projections."""

from __future__ import annotations

import sys
import time
from json import dumps
from typing import Annotated

import typer
from rich.table import Table

from arco.cli.common import (
    DatabaseUrlOption,
    DataDirOption,
    JsonOption,
    console,
    err_console,
    opened_store,
    print_json,
)
from arco.compactor import Compactor
from arco.events import StoredEvent
from arco.fold.rows import combined_digest
from arco.ledger import ledger_for

app = typer.Typer(help="The event ledger: tail, verify, rebuild.", no_args_is_help=True)


def _summary(event: StoredEvent) -> dict[str, object]:
    data = event.data.model_dump(mode="json")
    return {
        "offset": event.offset,
        "event_id": event.event_id,
        "timestamp": event.timestamp.isoformat(),
        "tenant_id": event.tenant_id,
        "workspace_id": event.workspace_id,
        "event_type": event.event_type,
        "idempotency_key": event.idempotency_key,
        "correlation_id": event.correlation_id,
        "data": data,
    }


def _table(events: list[StoredEvent]) -> Table:
    table = Table()
    for header in ("offset", "time (UTC)", "scope", "type", "idempotency key", "run"):
        table.add_column(header, overflow="fold")
    for event in events:
        table.add_row(
            str(event.offset),
            event.timestamp.strftime("%Y-%m-%d %H:%M:%S"),
            f"{event.tenant_id}/{event.workspace_id}",
            event.event_type,
            event.idempotency_key,
            event.correlation_id or "",
        )
    return table


@app.command("tail")
def tail_command(
    data_dir: DataDirOption = None,
    database_url: DatabaseUrlOption = None,
    json: JsonOption = False,
    limit: Annotated[int, typer.Option(help="Show at most this many events.")] = 50,
    after: Annotated[
        int | None,
        typer.Option(help="Start after this offset (default: show the last LIMIT events)."),
    ] = None,
    event_type: Annotated[
        str | None, typer.Option("--type", help="Only events of this type, e.g. RunRequested.")
    ] = None,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new events.")
    ] = False,
) -> None:
    """Print the newest events of the ledger.

    Examples: arco ledger tail · arco ledger tail --type ScheduleTicked --json ·
    arco ledger tail --after 120 --follow
    """
    with opened_store(data_dir, database_url) as (_config, engine):
        ledger = ledger_for(engine)
        start = after if after is not None else max(0, ledger.head() - limit)
        while True:
            batch = ledger.read(start, limit)
            start = batch[-1].offset if batch else start
            shown = [e for e in batch if not event_type or e.event_type == event_type]
            if json and follow:  # a stream: one JSON object per line
                for event in shown:
                    sys.stdout.write(dumps(_summary(event), sort_keys=True, default=str) + "\n")
                sys.stdout.flush()
            elif json:
                print_json([_summary(event) for event in shown])
            elif shown or not follow:
                console.print(_table(shown))
            if not follow:
                return
            time.sleep(0.5)


@app.command("verify")
def verify_command(
    data_dir: DataDirOption = None, database_url: DatabaseUrlOption = None, json: JsonOption = False
) -> None:
    """Rebuild every projection from offset 0 in a scratch store and compare digests.

    Exits 1 if the live projections differ from the rebuild (and names the tables).
    """
    with opened_store(data_dir, database_url) as (_config, engine):
        result = Compactor(ledger_for(engine)).verify()
    if json:
        print_json(
            {
                "ok": result.ok,
                "watermark": result.watermark,
                "live_digest": result.live_digest,
                "rebuilt_digest": result.rebuilt_digest,
                "differing_tables": result.differing_tables,
            }
        )
    elif result.ok:
        console.print(
            f"[green]ok[/green] projections at offset {result.watermark} match a full rebuild"
        )
        console.print(f"digest {result.live_digest}")
    else:
        tables = ", ".join(result.differing_tables)
        err_console.print(f"[red]MISMATCH[/red] at offset {result.watermark}: {tables}")
        err_console.print(f"live    {result.live_digest}\nrebuilt {result.rebuilt_digest}")
    if not result.ok:
        raise typer.Exit(code=1)


@app.command("rebuild")
def rebuild_command(
    data_dir: DataDirOption = None,
    database_url: DatabaseUrlOption = None,
    json: JsonOption = False,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Drop every projection row and fold the whole ledger again."""
    if not yes and not json:
        typer.confirm("Rebuild all projections from the ledger?", abort=True)
    with opened_store(data_dir, database_url) as (_config, engine):
        compactor = Compactor(ledger_for(engine))
        started = time.perf_counter()
        folded = compactor.rebuild()
        _, digests = compactor.digests()
    elapsed = time.perf_counter() - started

    if json:
        print_json(
            {"folded": folded, "seconds": round(elapsed, 3), "digest": combined_digest(digests)}
        )
    else:
        console.print(
            f"folded {folded} events in {elapsed:.2f}s; digest {combined_digest(digests)}"
        )
