"""Bodies of the ledger route (``/events``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel


class EventOut(BaseModel):
    offset: int
    event_id: str
    event_type: str
    event_version: int
    timestamp: datetime
    idempotency_key: str
    correlation_id: str | None
    causation_id: str | None
    data: dict[str, Any]


class EventPage(BaseModel):
    items: list[EventOut]
    next_after: int | None
