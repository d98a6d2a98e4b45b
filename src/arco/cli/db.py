"""``arco db``: create and upgrade the schema."""

from __future__ import annotations

import typer

from arco.cli.common import (
    DatabaseUrlOption,
    DataDirOption,
    JsonOption,
    console,
    opened_store,
    print_json,
)
from arco.storage.migrate import current_revision, head_revision, upgrade

app = typer.Typer(help="Database schema: create and upgrade.", no_args_is_help=True)


@app.command("upgrade")
def upgrade_command(
    data_dir: DataDirOption = None, database_url: DatabaseUrlOption = None, json: JsonOption = False
) -> None:
    """Create or upgrade the schema to the newest migration.

    Example: arco db upgrade --data-dir ./.arco
    """
    with opened_store(data_dir, database_url) as (config, engine):
        before = current_revision(engine)
        upgrade(engine)
        after = current_revision(engine)
    if json:
        print_json({"database_url": config.database_url, "from": before, "to": after})
    else:
        console.print(f"schema at revision [bold]{after}[/bold] (was {before or 'empty'})")
        console.print(f"database: {config.database_url}")


@app.command("status")
def status_command(
    data_dir: DataDirOption = None, database_url: DatabaseUrlOption = None, json: JsonOption = False
) -> None:
    """Show the schema revision of the database and the newest one available."""
    with opened_store(data_dir, database_url) as (config, engine):
        current = current_revision(engine)
    head = head_revision()
    if json:
        print_json({"database_url": config.database_url, "current": current, "head": head})
    else:
        state = "up to date" if current == head else "needs `arco db upgrade`"
        console.print(f"revision {current or 'none'} (newest {head}): {state}")
