"""Read-your-writes: wait until the projections include an event, or fold the tail now.

``wait_for_event_id`` + ``timeout_ms`` wait for the compactor to pass that
event (folding the tail from this process if needed); ``fresh=true`` folds the
ledger tail before answering, bounded in events and time so a huge backlog
cannot stall a read.
"""

from __future__ import annotations

import time

from arco.api.state import ApiState
from arco.errors import NotFoundError, ValidationError
from arco.fold.rows import Scope

FRESH_MAX_EVENTS = 5_000
FRESH_MAX_SECONDS = 0.5
MAX_TIMEOUT_MS = 30_000


def fold_tail(state: ApiState, max_events: int = FRESH_MAX_EVENTS) -> None:
    deadline = time.monotonic() + FRESH_MAX_SECONDS
    folded = 0
    while folded < max_events and time.monotonic() < deadline:
        result = state.compactor.run_once(limit=min(1000, max_events - folded))
        if result.folded == 0:
            return
        folded += result.folded


def wait_for_event(state: ApiState, scope: Scope, event_id: str, timeout_ms: int) -> None:
    """Return once the projections include ``event_id``; 404 if it is not the caller's."""
    if not 0 <= timeout_ms <= MAX_TIMEOUT_MS:
        raise ValidationError(
            "timeout_ms out of range",
            field="timeout_ms",
            value=timeout_ms,
            allowed=f"0..{MAX_TIMEOUT_MS}",
        )
    offset = state.reader.offset_of(scope, event_id)
    if offset is None:
        raise NotFoundError(
            f"event {event_id} not found", field="wait_for_event_id", value=event_id
        )
    deadline = time.monotonic() + timeout_ms / 1000
    while state.reader.watermark() < offset:
        if time.monotonic() >= deadline:
            return
        fold_tail(state, max_events=max(1, offset - state.reader.watermark()))
        if state.reader.watermark() < offset:
            time.sleep(0.01)


def settle(
    state: ApiState, scope: Scope, wait_for_event_id: str | None, timeout_ms: int, fresh: bool
) -> None:
    if wait_for_event_id:
        wait_for_event(state, scope, wait_for_event_id, timeout_ms)
    if fresh:
        fold_tail(state)
