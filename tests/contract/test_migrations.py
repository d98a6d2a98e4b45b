"""Migrations: upgrading an empty database yields exactly the declared schema."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, insert, select

from arco.storage.database import open_engine, sqlite_url
from arco.storage.migrate import current_revision, head_revision, upgrade
from arco.storage.schema import metadata, projections, watermarks
from support.databases import postgres_schema


def test_upgraded_schema_equals_the_declared_schema(engine: Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []


def test_database_is_at_head_and_upgrade_is_repeatable(engine: Engine) -> None:
    assert current_revision(engine) == head_revision()
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    with engine.connect() as connection:
        assert connection.execute(select(watermarks.c.event_offset)).scalars().all() == [0]


@contextmanager
def _empty_database(backend: str, directory: Path) -> Iterator[Engine]:
    if backend == "sqlite":
        engine = open_engine(sqlite_url(directory))
        yield engine
        engine.dispose()
        return
    with postgres_schema() as url:
        engine = open_engine(url)
        yield engine
        engine.dispose()


def test_upgrading_a_0001_store_keeps_its_rows_and_lifts_the_key_length_limit(
    backend: str, tmp_path: Path
) -> None:
    runs = projections["run_key_index"]
    row = {"tenant_id": "acme", "workspace_id": "prod", "doc": "{}", "row_version": "v"}
    with _empty_database(backend, tmp_path) as engine:
        upgrade(engine, "0001")
        with engine.begin() as connection:
            connection.execute(insert(runs), [{**row, "pk": "before"}])
        upgrade(engine)
        with engine.begin() as connection:
            connection.execute(insert(runs), [{**row, "pk": "k" * 5_000}])
            kept = connection.execute(select(runs.c.pk).order_by(runs.c.pk)).scalars().all()
        assert kept == ["before", "k" * 5_000]
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, metadata) == []
