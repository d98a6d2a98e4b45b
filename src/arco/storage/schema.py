"""Every table Arco keeps, as SQLAlchemy Core metadata (the declared schema).

Migrations under ``arco/storage/migrations`` create this schema; a test
upgrades an empty database on each backend and compares it with this file.
"""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)
from sqlalchemy.types import TypeEngine

from arco.fold.tables import ALL_TABLES, ColumnType, ProjectionTable
from arco.storage.types import AnyText

metadata = MetaData()

# SQLite only treats a column as its rowid when it is declared exactly INTEGER.
_OFFSET = BigInteger().with_variant(Integer, "sqlite")

events = Table(
    "arco_events",
    metadata,
    Column(
        "offset",
        BigInteger().with_variant(Integer, "sqlite"),
        primary_key=True,
        autoincrement=False,
    ),
    Column("event_id", String(26), nullable=False, unique=True),
    Column("tenant_id", String(128), nullable=False),
    Column("workspace_id", String(128), nullable=False),
    Column("event_type", String(64), nullable=False),
    Column("event_version", Integer, nullable=False),
    Column("idempotency_key", AnyText, nullable=False),
    Column("correlation_id", String(64)),
    Column("timestamp", String(32), nullable=False),
    Column("body", Text, nullable=False),
    Index("ix_arco_events_scope_offset", "tenant_id", "workspace_id", "offset"),
    Index("ix_arco_events_correlation", "correlation_id"),
)

# Primary keys lead with their most selective column. Lookups are "this scope, these
# 500 keys"; with the scope first, a planner without statistics (a young PostgreSQL
# table) matched the scope in the index and filtered the keys, reading the whole
# scope on every append. With the key first, the IN list is always the index condition.
idempotency_keys = Table(
    "arco_idempotency_keys",
    metadata,
    Column("idempotency_key", AnyText, nullable=False),
    Column("tenant_id", String(128), nullable=False),
    Column("workspace_id", String(128), nullable=False),
    Column("event_offset", BigInteger, nullable=False),
    Column("expires_at_ms", BigInteger, nullable=False),
    PrimaryKeyConstraint("idempotency_key", "tenant_id", "workspace_id"),
    Index("ix_arco_idempotency_expiry", "expires_at_ms"),
)

watermarks = Table(
    "arco_watermarks",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("event_offset", BigInteger, nullable=False),
)

api_requests = Table(
    "arco_api_requests",
    metadata,
    Column("tenant_id", String(128), primary_key=True),
    Column("workspace_id", String(128), primary_key=True),
    # Escaped on PostgreSQL, so a 255-character key can take more room: no length limit.
    Column("idempotency_key", AnyText, primary_key=True),
    Column("request_hash", String(64), nullable=False),
    Column("status_code", Integer, nullable=False),
    Column("response_body", Text, nullable=False),
    Column("created_at_ms", BigInteger, nullable=False),
)

# Keys and text columns hold strings from user code and clients: AnyText keeps NUL
# storable on PostgreSQL, and no length limit turns a long run key into a failed fold.
_SQL_TYPES: dict[ColumnType, type[TypeEngine[Any]]] = {
    "text": AnyText,
    "int": BigInteger,
    "float": Float,
    "bool": Boolean,
}

PROJECTION_PREFIX = "p_"


_MAX_IDENTIFIER = 63  # PostgreSQL's limit


def _index_name(name: str) -> str:
    """``name``, or a prefix of it plus a hash when it exceeds PostgreSQL's identifier limit."""
    if len(name) <= _MAX_IDENTIFIER:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[: _MAX_IDENTIFIER - 9]}_{digest}"


def _projection_table(spec: ProjectionTable) -> Table:
    name = PROJECTION_PREFIX + spec.name
    columns = [Column(column, _SQL_TYPES[kind]()) for column, kind in spec.columns]
    indexes = [
        Index(_index_name(f"ix_{name}_{'_'.join(cols)}"), "tenant_id", "workspace_id", *cols)
        for cols in spec.indexes
    ]
    return Table(
        name,
        metadata,
        Column("tenant_id", String(128), nullable=False),
        Column("workspace_id", String(128), nullable=False),
        Column("pk", AnyText, nullable=False),
        Column("doc", Text, nullable=False),
        Column("row_version", String(26), nullable=False),
        *columns,
        # pk first for the fold's "these pks" lookups; the scope index serves listing.
        PrimaryKeyConstraint("pk", "tenant_id", "workspace_id"),
        Index(_index_name(f"ix_{name}_scope_pk"), "tenant_id", "workspace_id", "pk"),
        *indexes,
    )


projections: dict[str, Table] = {spec.name: _projection_table(spec) for spec in ALL_TABLES}
