"""Bodies of the run-key conflict route (``/conflicts``)."""

from __future__ import annotations

from pydantic import BaseModel

from arco.api.models import PageOut


class ConflictOut(BaseModel):
    run_key: str
    existing_run_id: str
    existing_fingerprint: str
    conflicting_fingerprint: str
    conflicting_source: dict[str, object]
    conflicting_event_id: str
    detected_at: str


class ConflictPage(PageOut):
    items: list[ConflictOut]
    next_cursor: str | None = None
