"""Migrations: upgrading an empty database yields exactly the declared schema."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, select

from arco.storage.migrate import current_revision, head_revision, upgrade
from arco.storage.schema import metadata, watermarks


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
