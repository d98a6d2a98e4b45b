"""The ``arco`` command."""

from __future__ import annotations

import typer

from arco import __version__
from arco.cli import db, ledger, runs, serve

app = typer.Typer(
    name="arco",
    help="Arco: an event-sourced data orchestrator. Every decision is a ledger event.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(db.app, name="db")
app.add_typer(ledger.app, name="ledger")
app.add_typer(runs.app, name="runs")
app.command("serve")(serve.serve_command)


@app.command("version")
def version_command() -> None:
    """Print Arco's version."""
    typer.echo(__version__)


if __name__ == "__main__":
    app()
