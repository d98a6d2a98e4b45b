"""Reading projections: point lookups, filtered pages with opaque cursors, counts.

The API, the CLI and the controller runners read through this; nothing else
issues SQL against projection tables.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, and_, func, or_, select
from sqlalchemy.sql.elements import ColumnElement

from arco.errors import ValidationError
from arco.fold.rows import Doc, Scope
from arco.fold.tables import ProjectionTable
from arco.storage.database import read_transaction
from arco.storage.schema import events, projections, watermarks

MAX_PAGE = 1000


@dataclass(frozen=True)
class Page:
    items: list[Doc]
    next_cursor: str | None = None


@dataclass(frozen=True)
class Query:
    """Equality filters, inclusive ranges and an order over declared columns."""

    where: Mapping[str, object] = field(default_factory=dict)
    ranges: Mapping[str, tuple[object | None, object | None]] = field(default_factory=dict)
    order_by: str = "pk"
    descending: bool = False


class ProjectionReader:
    """Read-only access to the projection tables of one database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def get(self, table: ProjectionTable, scope: Scope, pk: str) -> Doc | None:
        sql = projections[table.name]
        query = select(sql.c.doc).where(
            sql.c.tenant_id == scope.tenant_id,
            sql.c.workspace_id == scope.workspace_id,
            sql.c.pk == pk,
        )
        with read_transaction(self.engine) as connection:
            doc = connection.execute(query).scalar_one_or_none()
        return None if doc is None else _loads(doc)

    def page(
        self,
        table: ProjectionTable,
        scope: Scope | None,
        query: Query | None = None,
        *,
        cursor: str | None = None,
        limit: int = 100,
    ) -> Page:
        """One page of docs in ``query.order_by`` order (pk breaks ties)."""
        query = query or Query()
        sql = projections[table.name]
        order = _column(sql, query.order_by)
        statement = select(sql.c.doc, order, sql.c.pk).where(*self._filters(sql, scope, query))
        if cursor is not None:
            statement = statement.where(_after(order, sql.c.pk, cursor, query.descending))
        if query.descending:
            statement = statement.order_by(order.desc(), sql.c.pk.desc())
        else:
            statement = statement.order_by(order, sql.c.pk)
        limit = max(1, min(limit, MAX_PAGE))
        with read_transaction(self.engine) as connection:
            rows = connection.execute(statement.limit(limit + 1)).all()
        items = [_loads(row[0]) for row in rows[:limit]]
        next_cursor = (
            _encode_cursor(rows[limit - 1][1], rows[limit - 1][2]) if len(rows) > limit else None
        )
        return Page(items, next_cursor)

    def all(
        self, table: ProjectionTable, scope: Scope | None, query: Query | None = None
    ) -> list[Doc]:
        """Every matching doc (for controllers; prefer ``page`` for anything user-facing)."""
        query = query or Query()
        sql = projections[table.name]
        statement = select(sql.c.doc).where(*self._filters(sql, scope, query))
        statement = statement.order_by(_column(sql, query.order_by), sql.c.pk)
        with read_transaction(self.engine) as connection:
            return [_loads(doc) for doc in connection.execute(statement).scalars()]

    def count(self, table: ProjectionTable, scope: Scope | None, query: Query | None = None) -> int:
        sql = projections[table.name]
        statement = (
            select(func.count())
            .select_from(sql)
            .where(*self._filters(sql, scope, query or Query()))
        )
        with read_transaction(self.engine) as connection:
            return int(connection.execute(statement).scalar_one())

    def scopes(self, table: ProjectionTable) -> list[Scope]:
        """Every tenant/workspace that has rows in ``table``."""
        sql = projections[table.name]
        statement = select(sql.c.tenant_id, sql.c.workspace_id).distinct()
        with read_transaction(self.engine) as connection:
            return sorted(Scope(t, w) for t, w in connection.execute(statement))

    def watermark(self) -> int:
        with read_transaction(self.engine) as connection:
            value = connection.execute(select(watermarks.c.event_offset)).scalar_one_or_none()
        return 0 if value is None else int(value)

    def offset_of(self, scope: Scope, event_id: str) -> int | None:
        """The ledger offset of ``event_id`` if it belongs to ``scope``."""
        statement = select(events.c.offset).where(
            events.c.event_id == event_id,
            events.c.tenant_id == scope.tenant_id,
            events.c.workspace_id == scope.workspace_id,
        )
        with read_transaction(self.engine) as connection:
            value = connection.execute(statement).scalar_one_or_none()
        return None if value is None else int(value)

    @staticmethod
    def _filters(sql: Any, scope: Scope | None, query: Query) -> list[ColumnElement[bool]]:
        filters: list[ColumnElement[bool]] = []
        if scope is not None:
            filters += [
                sql.c.tenant_id == scope.tenant_id,
                sql.c.workspace_id == scope.workspace_id,
            ]
        for name, value in query.where.items():
            column = _column(sql, name)
            filters.append(column.is_(None) if value is None else column == value)
        for name, (low, high) in query.ranges.items():
            column = _column(sql, name)
            if low is not None:
                filters.append(column >= low)
            if high is not None:
                filters.append(column <= high)
        return filters


def _column(sql: Any, name: str) -> Any:
    if name not in sql.c or name in ("doc", "row_version"):
        allowed = [c.name for c in sql.columns if c.name not in ("doc", "row_version")]
        raise ValidationError(f"cannot filter or sort on {name!r}", field=name, allowed=allowed)
    return sql.c[name]


def _loads(doc: str) -> Doc:
    loaded: Doc = json.loads(doc)
    return loaded


def _encode_cursor(order_value: object, pk: str) -> str:
    raw = json.dumps([order_value, pk], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[object, str]:
    """The (order value, pk) inside an opaque cursor; a bad cursor is a 4xx, not a crash."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value, pk = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(pk, str):
            raise TypeError("pk")
        return value, pk
    except (ValueError, TypeError) as error:
        raise ValidationError(
            "cursor is not one this server handed out", field="cursor", value=cursor
        ) from error


def _after(order: Any, pk: Any, cursor: str, descending: bool) -> ColumnElement[bool]:
    value, last_pk = decode_cursor(cursor)
    if descending:
        return or_(order < value, and_(order == value, pk < last_pk))
    return or_(order > value, and_(order == value, pk > last_pk))
