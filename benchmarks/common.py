"""Shared benchmark plumbing: fresh databases, medians, and the table we print.

Every benchmark prints the machine and date with its table so the README can
quote it as measured, not asserted.
"""

from __future__ import annotations

import os
import platform
import secrets
import statistics
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine, text

from arco.storage.database import open_engine, sqlite_url
from arco.storage.migrate import upgrade

POSTGRES_ENV = "ARCO_BENCH_POSTGRES_URL"
DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"


def header(title: str) -> str:
    return f"## {title}\n\nmachine: {machine()}; date: {datetime.now(UTC):%Y-%m-%d}\n"


@contextmanager
def fresh_database(backend: str) -> Iterator[str]:
    """A migrated empty database URL (SQLite file or a new PostgreSQL schema)."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as directory:
            url = sqlite_url(directory)
            engine = open_engine(url)
            upgrade(engine)
            engine.dispose()
            yield url
        return
    base = os.environ.get(POSTGRES_ENV, DEFAULT_POSTGRES)
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    schema = "bench_" + secrets.token_hex(4)
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in base else "?"
    url = f"{base}{separator}options=-csearch_path%3D{schema}"
    try:
        engine = open_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def median_of(runs: int, measure: Callable[[], float]) -> float:
    return statistics.median(measure() for _ in range(runs))


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[index]


def table(columns: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)
