"""The ``arco`` command."""

from __future__ import annotations

import typer

from arco import __version__
from arco.cli import (
    backfills,
    conflicts,
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
# Resource groups are plural; the singular also works (`arco schedule list`), unlisted.
for group, name in (
    (runs.app, "runs"),
    (schedules.app, "schedules"),
    (sensors.app, "sensors"),
    (backfills.app, "backfills"),
    (partitions.app, "partitions"),
    (conflicts.app, "conflicts"),
):
    app.add_typer(group, name=name)
    app.add_typer(group, name=name.removesuffix("s"), hidden=True)
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
