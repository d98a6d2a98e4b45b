"""Bodies of the ledger route (``/events``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from arco.api.schemas.numbers import Int64


class EventOut(BaseModel):
    offset: Int64
    event_id: str
    event_type: str
    event_version: Int64
    timestamp: datetime
    idempotency_key: str
    correlation_id: str | None
    causation_id: str | None
    data: dict[str, Any]


class EventPage(BaseModel):
    items: list[EventOut]
    next_after: Int64 | None
