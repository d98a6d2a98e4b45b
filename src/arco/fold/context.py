"""FoldContext: what one fold handler sees while it applies one event."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from arco.events import StoredEvent
from arco.fold.rows import Doc, Row, RowStore, Scope
from arco.fold.tables import ProjectionTable
from arco.ids import canonical_json


def iso(instant: datetime) -> str:
    """The one timestamp format of projection docs (UTC, microseconds, ``Z``)."""
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class FoldContext:
    """Rows of the event's tenant and workspace, and the event being applied.

    ``put`` writes only when the document actually changes, so applying an event
    twice leaves ``row_version`` (the id of the last changing event) untouched.
    """

    def __init__(self, rows: RowStore, event: StoredEvent) -> None:
        self._rows = rows
        self.event = event
        self.scope = Scope(event.tenant_id, event.workspace_id)
        self.at = iso(event.timestamp)
        self.warnings: list[str] = []

    def get(self, table: ProjectionTable, pk: str) -> Doc | None:
        row = self._rows.get(table.name, self.scope, pk)
        return None if row is None else row.doc

    def put(self, table: ProjectionTable, pk: str, doc: Doc) -> bool:
        """Store ``doc``; returns whether anything changed."""
        new_json = canonical_json(doc)
        old = self._rows.get(table.name, self.scope, pk)
        if old is not None and old.doc_json == new_json:
            return False
        self._rows.put(table.name, self.scope, pk, Row(new_json, self.event.event_id))
        return True

    def warn(self, message: str) -> None:
        self.warnings.append(message)


Handler = Callable[[FoldContext, Any], None]

# Which rows a handler will read for an event: an optional hint that lets the
# compactor load them for a whole batch in a few queries.  Correctness never
# depends on it; a row missing from the hint is loaded when the handler asks.
Prefetch = Callable[[Any], Iterable[tuple[ProjectionTable, str]]]
