"""The caller's slice of the ledger, newest last (``arco ledger tail`` over HTTP)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from arco.api.errors import ERROR_RESPONSES
from arco.api.params import ReadScope
from arco.api.schemas.events import EventOut, EventPage
from arco.api.schemas.numbers import INT64_MAX
from arco.api.state import api_state

router = APIRouter(prefix="/events", tags=["events"], responses=ERROR_RESPONSES)


@router.get("", summary="Tail the ledger (the caller's tenant and workspace only)")
def list_events(
    request: Request,
    scope: ReadScope,
    after: Annotated[
        int, Query(ge=0, le=INT64_MAX, description="Only events after this offset")
    ] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    event_type: Annotated[str | None, Query(description="Only this event type")] = None,
) -> EventPage:
    ledger = api_state(request).ledger
    events = ledger.read(after, limit, tenant_id=scope.tenant_id, workspace_id=scope.workspace_id)
    items = [
        EventOut(
            offset=e.offset,
            event_id=e.event_id,
            event_type=e.event_type,
            event_version=e.event_version,
            timestamp=e.timestamp,
            idempotency_key=e.idempotency_key,
            correlation_id=e.correlation_id,
            causation_id=e.causation_id,
            data=e.data.model_dump(mode="json"),
        )
        for e in events
        if event_type is None or e.event_type == event_type
    ]
    next_after = events[-1].offset if len(events) == limit else None
    return EventPage(items=items, next_after=next_after)
