"""Response and request shapes shared by every router (the OpenAPI contract)."""

from __future__ import annotations

from typing import Any, Self

from pydantic import BaseModel, Field

from arco.storage.reader import Page as RowPage


class ErrorBody(BaseModel):
    code: str = Field(description="Stable machine-readable error code")
    message: str
    field: str | None = Field(default=None, description="The offending field, when there is one")
    value: Any = None
    allowed: list[str] | str | None = None
    details: dict[str, Any] | None = None


class ErrorResponse(BaseModel):
    error: ErrorBody


class AcceptedResponse(BaseModel):
    """A mutation was accepted: it is in the ledger as ``accepted_event_id``."""

    accepted_event_id: str
    offset: int
    duplicate: bool = Field(description="The same request had already been appended")
    id: str | None = Field(default=None, description="The id of the resource created or changed")


class PageOut(BaseModel):
    """A page body; each one declares its ``items`` (of its item model) and ``next_cursor``."""

    @classmethod
    def of(cls, found: RowPage) -> Self:
        """The page of projection rows ``found``, each row validated as the item model."""
        return cls.model_validate({"items": found.items, "next_cursor": found.next_cursor})
