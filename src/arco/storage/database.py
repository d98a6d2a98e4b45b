"""Opening a database: SQLite (WAL, one file) or PostgreSQL (psycopg 3).

SQLite write transactions start with ``BEGIN IMMEDIATE`` so that two writers
queue on the database lock (busy_timeout) instead of failing on upgrade from a
read lock; reads use plain deferred transactions and see a WAL snapshot.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.pool import QueuePool

from arco.errors import ConfigurationError

SQLITE_BUSY_TIMEOUT_MS = 60_000
_BEGIN_OPTION = "arco_sqlite_begin"


def sqlite_url(data_dir: Path | str) -> str:
    """The URL of the one SQLite file Arco keeps under ``data_dir``."""
    return f"sqlite:///{Path(data_dir) / 'arco.db'}"


def open_engine(url: str) -> Engine:
    """An engine for ``url`` (``sqlite:///…`` or ``postgresql+psycopg://…``)."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(url)
    if backend == "postgresql":
        if parsed.drivername == "postgresql":
            url = str(parsed.set(drivername="postgresql+psycopg"))
        return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)
    raise ConfigurationError(
        f"unsupported database URL scheme {parsed.drivername!r}",
        field="database_url",
        value=parsed.drivername,
        allowed=["sqlite:///path/to/arco.db", "postgresql://user@host/db"],
    )


def _sqlite_engine(url: str) -> Engine:
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    # A small pool: opening a SQLite connection (and setting its pragmas) costs more
    # than most of the queries Arco runs on it. Connections move between threads
    # (API handlers, daemon, worker), never at the same time, hence check_same_thread.
    engine = create_engine(
        url,
        poolclass=QueuePool,
        pool_size=5,
        max_overflow=20,
        connect_args={"check_same_thread": False},
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy (below) issue BEGIN itself instead of pysqlite guessing.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        mode = connection.get_execution_options().get(_BEGIN_OPTION, "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")

    return engine


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction that intends to write (``BEGIN IMMEDIATE`` on SQLite)."""
    with engine.connect() as connection:
        if is_sqlite(engine):
            connection = connection.execution_options(**{_BEGIN_OPTION: "IMMEDIATE"})
        with connection.begin():
            yield connection


@contextmanager
def read_transaction(engine: Engine) -> Iterator[Connection]:
    """A read-only snapshot (deferred on SQLite, REPEATABLE READ on PostgreSQL)."""
    with engine.connect() as connection:
        if not is_sqlite(engine):
            connection = connection.execution_options(isolation_level="REPEATABLE READ")
        with connection.begin():
            yield connection


def prefer_index_lookups(connection: Connection) -> None:
    """Keep ``key IN (…)`` lookups on their index for the rest of this transaction.

    Without statistics (a young table, or autovacuum off) PostgreSQL guesses each
    listed key matches 0.5% of the rows and scans the whole table for 50 keys, so
    appends and folds slow down as tables grow. No-op on SQLite.
    """
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
