"""Real databases for tests: a SQLite file, or a fresh schema in PostgreSQL.

PostgreSQL tests run whenever ARCO_TEST_POSTGRES_URL is set (``.ci/run`` and
the README's test command always set it); if it is set and the server cannot
be reached, the tests fail loudly instead of skipping.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from arco.storage.database import open_engine, sqlite_url
from arco.storage.migrate import upgrade

POSTGRES_URL_ENV = "ARCO_TEST_POSTGRES_URL"


def postgres_url() -> str | None:
    return os.environ.get(POSTGRES_URL_ENV) or None


def backends() -> list[str]:
    return ["sqlite", "postgres"] if postgres_url() else ["sqlite"]


def _admin_url() -> str:
    url = postgres_url()
    assert url is not None
    parsed = make_url(url)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


@contextmanager
def postgres_schema() -> Iterator[str]:
    """A URL whose connections live in a brand-new schema, dropped afterwards."""
    admin = create_engine(_admin_url(), isolation_level="AUTOCOMMIT")
    schema = "t_" + secrets.token_hex(6)
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as error:  # pragma: no cover - the loud failure the brief asks for
        raise RuntimeError(
            f"{POSTGRES_URL_ENV} is set but PostgreSQL is unreachable: {error}"
        ) from error
    base = _admin_url()
    separator = "&" if "?" in base else "?"
    try:
        yield f"{base}{separator}options={quote(f'-csearch_path={schema}')}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@contextmanager
def database_url(backend: str, directory: Path) -> Iterator[str]:
    """A migrated, empty database of ``backend`` for one test."""
    if backend == "sqlite":
        url = sqlite_url(directory)
        engine = open_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url
        return
    with postgres_schema() as url:
        engine = open_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url
