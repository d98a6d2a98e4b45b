"""Alembic environment: runs on the connection handed over by arco.storage.migrate."""

from __future__ import annotations

from typing import Any, Literal

from alembic import context

from arco.storage.schema import metadata
from arco.storage.types import AnyText


def _render_item(kind: str, item: Any, autogen_context: Any) -> str | Literal[False]:
    """Write AnyText as plain TEXT: migrations must not depend on today's Python types."""
    if kind == "type" and isinstance(item, AnyText):
        return "sa.Text()"
    return False


connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
    render_item=_render_item,
)
with context.begin_transaction():
    context.run_migrations()
