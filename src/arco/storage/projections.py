"""Projection rows in SQL: the fold's RowStore inside one transaction, and digests.

:class:`BatchRows` loads rows on first use, keeps every row the batch touched in
memory, and writes the changed ones back in :meth:`BatchRows.flush`, in the same
transaction as the compactor's new watermark.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from typing import Any

from sqlalchemy import Connection, Select, Table, bindparam, delete, select
from sqlalchemy.dialects import postgresql, sqlite

from arco.fold.rows import Row, RowKey, Scope, digests_by_table
from arco.fold.tables import TABLES_BY_NAME
from arco.storage.schema import projections


class BatchRows:
    """A write-back cache of projection rows over one connection (a RowStore)."""

    def __init__(self, connection: Connection, *, assume_empty: bool = False) -> None:
        self._connection = connection
        self._assume_empty = assume_empty
        self._cache: dict[RowKey, Row | None] = {}
        self._dirty: set[RowKey] = set()
        self._created: set[RowKey] = set()

    def get(self, table: str, scope: Scope, pk: str) -> Row | None:
        key = (table, scope.tenant_id, scope.workspace_id, pk)
        if key in self._cache:
            return self._cache[key]
        row = None if self._assume_empty else _load(self._connection, key)
        self._cache[key] = row
        return row

    def put(self, table: str, scope: Scope, pk: str, row: Row) -> None:
        key = (table, scope.tenant_id, scope.workspace_id, pk)
        if self.get(table, scope, pk) is None:
            self._created.add(key)
        self._cache[key] = row
        self._dirty.add(key)

    def created(self, table: str) -> list[RowKey]:
        """Rows of ``table`` that did not exist before this batch (for metrics and logs)."""
        return sorted(key for key in self._created if key[0] == table)

    def prefetch(self, wanted: Iterable[tuple[str, Scope, str]]) -> None:
        """Load many rows in one query per (table, tenant, workspace); absent ones too."""
        groups: dict[tuple[str, str, str], set[str]] = defaultdict(set)
        for table, scope, pk in wanted:
            if (table, scope.tenant_id, scope.workspace_id, pk) not in self._cache:
                groups[(table, scope.tenant_id, scope.workspace_id)].add(pk)
        for (table, tenant, workspace), pks in groups.items():
            for pk in pks:
                self._cache[(table, tenant, workspace, pk)] = None
            if self._assume_empty:
                continue
            found = _load_many(self._connection, table, tenant, workspace, sorted(pks))
            for pk, row in found.items():
                self._cache[(table, tenant, workspace, pk)] = row

    @property
    def dirty_count(self) -> int:
        return len(self._dirty)

    def flush(self) -> int:
        """Write every changed row; returns how many."""
        by_table: dict[str, list[dict[str, object]]] = defaultdict(list)
        for key in self._dirty:
            row = self._cache[key]
            assert row is not None  # put() never stores None
            by_table[key[0]].append(_row_values(key, row))
        for name, values in by_table.items():
            _upsert(self._connection, projections[name], values)
        written = len(self._dirty)
        self._dirty.clear()
        return written

    def forget_clean(self) -> None:
        """Drop cached rows (after a flush) so long rebuilds do not grow without bound."""
        if not self._assume_empty:
            self._cache.clear()


def _point_query(table: Table) -> Select[Any]:
    return select(table.c.doc, table.c.row_version).where(
        table.c.tenant_id == bindparam("t"),
        table.c.workspace_id == bindparam("w"),
        table.c.pk == bindparam("pk"),
    )


_POINT_QUERIES = {name: _point_query(table) for name, table in projections.items()}
_IN_CHUNK = 500


def _load(connection: Connection, key: RowKey) -> Row | None:
    params = {"t": key[1], "w": key[2], "pk": key[3]}
    found = connection.execute(_POINT_QUERIES[key[0]], params).first()
    return None if found is None else Row(found[0], found[1])


def _load_many(
    connection: Connection, name: str, tenant: str, workspace: str, pks: list[str]
) -> dict[str, Row]:
    table = projections[name]
    c = table.c
    found: dict[str, Row] = {}
    for start in range(0, len(pks), _IN_CHUNK):
        # Only the pk list is in SQL (the leading column of the primary key), the scope
        # is checked here: given "scope = … AND pk IN (…)", a PostgreSQL planner without
        # statistics on a young table scans the whole scope and filters the pks.
        query = select(c.pk, c.doc, c.row_version, c.tenant_id, c.workspace_id).where(
            c.pk.in_(pks[start : start + _IN_CHUNK])
        )
        found.update(
            {
                pk: Row(doc, version)
                for pk, doc, version, row_tenant, row_workspace in connection.execute(query)
                if row_tenant == tenant and row_workspace == workspace
            }
        )
    return found


def _row_values(key: RowKey, row: Row) -> dict[str, object]:
    values: dict[str, object] = {
        "tenant_id": key[1],
        "workspace_id": key[2],
        "pk": key[3],
        "doc": row.doc_json,
        "row_version": row.row_version,
    }
    columns = TABLES_BY_NAME[key[0]].columns
    if columns:
        doc = row.doc
        for column, _kind in columns:
            values[column] = doc.get(column)
    return values


def _upsert(connection: Connection, table: Table, values: list[dict[str, object]]) -> None:
    insert = (sqlite if connection.dialect.name == "sqlite" else postgresql).insert(table)
    keys = ("tenant_id", "workspace_id", "pk")
    updates = {c.name: insert.excluded[c.name] for c in table.columns if c.name not in keys}
    statement = insert.on_conflict_do_update(index_elements=list(keys), set_=updates)
    connection.execute(statement, values)


def iter_rows(connection: Connection) -> Iterator[tuple[RowKey, Row]]:
    """Every projection row in digest order: table name, tenant, workspace, pk."""
    for name in sorted(projections):
        table = projections[name]
        query = select(
            table.c.tenant_id, table.c.workspace_id, table.c.pk, table.c.doc, table.c.row_version
        )
        # Sorted here, not in SQL, so database collations cannot change the order.
        for tenant, workspace, pk, doc, version in sorted(connection.execute(query).all()):
            yield (name, tenant, workspace, pk), Row(doc, version)


def table_digests(connection: Connection) -> dict[str, str]:
    """sha256 per projection table (to say *which* projection differs)."""
    return digests_by_table(iter_rows(connection), projections)


def clear_projections(connection: Connection) -> None:
    for table in projections.values():
        connection.execute(delete(table))
