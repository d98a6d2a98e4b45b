"""Options and helpers shared by every ``arco`` command."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine

from arco.config import DATA_DIR_ENV, DATABASE_URL_ENV, StoreConfig, resolve_store
from arco.errors import ArcoError, ValidationError
from arco.storage.database import open_engine

console = Console()
err_console = Console(stderr=True)

DataDirOption = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        envvar=DATA_DIR_ENV,
        help="Directory holding the local SQLite store (default: ./.arco).",
        show_default=False,
    ),
]
DatabaseUrlOption = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        envvar=DATABASE_URL_ENV,
        help="sqlite:///… or postgresql://… (overrides --data-dir).",
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


@contextmanager
def opened_store(
    data_dir: Path | None, database_url: str | None
) -> Iterator[tuple[StoreConfig, Engine]]:
    """Resolve the store and open its engine, turning Arco errors into clean exits."""
    config = resolve_store(data_dir, database_url)
    engine = open_engine(config.database_url)
    try:
        yield config, engine
    finally:
        engine.dispose()


def print_json(value: object) -> None:
    sys.stdout.write(json.dumps(value, indent=2, sort_keys=True, default=str) + "\n")


def fail(error: ArcoError, *, as_json: bool = False) -> typer.Exit:
    """Report ``error`` the same way everywhere and return an Exit to raise."""
    if as_json:
        print_json({"error": error.to_dict()})
    else:
        err_console.print("[red]error[/red] ", end="")
        err_console.print(f"({error.code}) {error.message}", markup=False, highlight=False)
        if error.field:
            err_console.print(f"  field: {error.field}", markup=False)
        if error.allowed:
            err_console.print(f"  allowed: {error.allowed}", markup=False)
    return typer.Exit(code=2)


@contextmanager
def reported_errors(as_json: bool = False) -> Iterator[None]:
    """Turn Arco errors (local or from the server) into a clean message and exit code 2."""
    try:
        yield
    except ArcoError as error:
        raise fail(error, as_json=as_json) from None


def print_accepted(accepted: dict[str, Any], message: str, as_json: bool) -> None:
    """Print a mutation's answer: JSON, or ``message`` with the event (and whether it repeated)."""
    if as_json:
        print_json(accepted)
        return
    again = " (already so)" if accepted.get("duplicate") else ""
    console.print(f"{message}{again} (event {accepted['accepted_event_id']})")


def given(**values: object) -> dict[str, object]:
    """The options the user gave (so the server keeps its defaults and current values)."""
    return {key: value for key, value in values.items() if value is not None}


def parse_pairs(items: list[str] | None, option: str, allowed: str = "key=value") -> dict[str, str]:
    """``key=value`` options (``--tag``, ``--attribute``, ``--filter``) as a dict."""
    pairs: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValidationError(
                f"{option} takes {allowed}, got {item!r}",
                field=option,
                value=item,
                allowed=allowed,
            )
        pairs[key] = value
    return pairs


def render(
    items: list[dict[str, Any]],
    columns: list[tuple[str, str]],
    *,
    as_json: bool,
    title: str | None = None,
) -> None:
    """Print ``items`` as JSON, or as a table of (header, field) columns."""
    if as_json:
        print_json(items)
        return
    table = Table(title=title)
    for header, _ in columns:
        # Fold long values rather than cut them: ids must stay copyable.
        table.add_column(header, overflow="fold")
    for item in items:
        table.add_row(*[_cell(item.get(field)) for _, field in columns])
    console.print(table)
    if not items:
        console.print("[dim](none)[/dim]")


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return str(value)
