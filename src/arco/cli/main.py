"""The ``arco`` command."""

from __future__ import annotations

import typer

from arco import __version__
from arco.cli import (
    backfills,
    db,
    dev,
    ledger,
    partitions,
    processes,
    runs,
    schedules,
    sensors,
    serve,
)

app = typer.Typer(
    name="arco",
    help="Arco: an event-sourced data orchestrator. Every decision is a ledger event.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(db.app, name="db")
app.add_typer(ledger.app, name="ledger")
app.add_typer(runs.app, name="runs")
app.add_typer(schedules.app, name="schedules")
app.add_typer(sensors.app, name="sensors")
app.add_typer(backfills.app, name="backfills")
app.add_typer(partitions.app, name="partitions")
app.command("dev")(dev.dev_command)
app.command("serve")(serve.serve_command)
app.command("daemon")(processes.daemon_command)
app.command("worker")(processes.worker_command)


@app.command("version")
def version_command() -> None:
    """Print Arco's version."""
    typer.echo(__version__)


if __name__ == "__main__":
    app()
