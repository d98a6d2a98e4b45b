"""The fold's view of projection rows: a port, an in-memory store, a per-event context.

The fold is a pure function of (rows, event): it reads rows through
:class:`RowStore` and writes them back through it.  The compactor provides a
store backed by the database (rows loaded and written in its transaction);
tests and ``ledger verify`` can use :class:`MemoryRows`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

from arco.fold.tables import ALL_TABLES
from arco.ids import canonical_json

Doc = dict[str, object]


@dataclass(frozen=True, slots=True, order=True)
class Scope:
    tenant_id: str
    workspace_id: str


@dataclass(frozen=True, slots=True)
class Row:
    """A row as stored: canonical JSON (immutable, so nobody can edit it in place)."""

    doc_json: str
    row_version: str

    @property
    def doc(self) -> Doc:
        """A fresh copy of the row's document, safe to modify."""
        loaded: Doc = json.loads(self.doc_json)
        return loaded

    @classmethod
    def of(cls, doc: Doc, row_version: str) -> Row:
        return cls(canonical_json(doc), row_version)


class RowStore(Protocol):
    """What the fold may do with projection rows: get one, put one."""

    def get(self, table: str, scope: Scope, pk: str) -> Row | None: ...

    def put(self, table: str, scope: Scope, pk: str, row: Row) -> None: ...


RowKey = tuple[str, str, str, str]


class MemoryRows:
    """Projection rows in a dict, for pure tests and in-memory rebuilds."""

    def __init__(self) -> None:
        self.rows: dict[RowKey, Row] = {}

    def get(self, table: str, scope: Scope, pk: str) -> Row | None:
        return self.rows.get((table, scope.tenant_id, scope.workspace_id, pk))

    def put(self, table: str, scope: Scope, pk: str, row: Row) -> None:
        self.rows[(table, scope.tenant_id, scope.workspace_id, pk)] = row

    def items(self) -> Iterator[tuple[RowKey, Row]]:
        return iter(sorted(self.rows.items()))

    def table(self, table: str) -> dict[str, Doc]:
        """Docs of one table keyed by pk (all tenants), for assertions."""
        return {key[3]: row.doc for key, row in self.rows.items() if key[0] == table}

    def digest(self) -> str:
        return combined_digest(digests_by_table(self.items(), (t.name for t in ALL_TABLES)))


def digest_line(key: RowKey, row: Row) -> bytes:
    """One row as it enters the digest: the same bytes whatever store held it."""
    table, tenant, workspace, pk = key
    return f"{table}\t{tenant}\t{workspace}\t{pk}\t{row.row_version}\t{row.doc_json}\n".encode()


def digests_by_table(rows: Iterable[tuple[RowKey, Row]], tables: Iterable[str]) -> dict[str, str]:
    """sha256 per table over rows given in (table, tenant, workspace, pk) order."""
    digests = {name: hashlib.sha256() for name in tables}
    for key, row in rows:
        digests[key[0]].update(digest_line(key, row))
    return {name: digest.hexdigest() for name, digest in sorted(digests.items())}


def combined_digest(per_table: dict[str, str]) -> str:
    """One digest for all projections, from the per-table digests."""
    text = "".join(f"{name}={digest}\n" for name, digest in sorted(per_table.items()))
    return hashlib.sha256(text.encode()).hexdigest()
