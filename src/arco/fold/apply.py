"""The fold's entry point: apply one stored event to projection rows.

Pure: no clock, no randomness, no I/O, never appends.  Events of a type this
code does not know are skipped with a warning returned to the caller (the
compactor logs it); they stay in the ledger untouched.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from arco.events import StoredEvent, UnknownEvent
from arco.fold import backfills, execution, runs, schedules, sensors
from arco.fold.context import FoldContext, Handler, Prefetch
from arco.fold.rows import RowStore, Scope

HANDLERS: dict[str, Handler] = {
    **runs.HANDLERS,
    **execution.HANDLERS,
    **backfills.HANDLERS,
    **sensors.HANDLERS,
    **schedules.HANDLERS,
}
PREFETCH: dict[str, Prefetch] = {
    **runs.PREFETCH,
    **execution.PREFETCH,
    **backfills.PREFETCH,
    **sensors.PREFETCH,
    **schedules.PREFETCH,
}


@dataclass
class FoldOutcome:
    applied: bool
    warnings: list[str] = field(default_factory=list)


def apply_event(rows: RowStore, event: StoredEvent) -> FoldOutcome:
    """Apply ``event`` to ``rows``; returns whether a handler ran, plus warnings."""
    if isinstance(event.data, UnknownEvent):
        return FoldOutcome(False, [f"unknown event type {event.event_type!r} skipped"])
    handler = HANDLERS.get(event.event_type)
    if handler is None:
        return FoldOutcome(False)
    ctx = FoldContext(rows, event)
    handler(ctx, event.data)
    return FoldOutcome(True, ctx.warnings)


def rows_needed(event: StoredEvent) -> list[tuple[str, Scope, str]]:
    """The rows the handler of ``event`` will probably read (a prefetch hint)."""
    hint = PREFETCH.get(event.event_type)
    if hint is None or isinstance(event.data, UnknownEvent):
        return []
    scope = Scope(event.tenant_id, event.workspace_id)
    return [(table.name, scope, pk) for table, pk in hint(event.data)]
