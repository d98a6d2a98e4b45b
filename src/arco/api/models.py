"""Response and request shapes shared by every router (the OpenAPI contract)."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")


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


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(
        default=None, description="Pass as `cursor` to get the next page; absent on the last page"
    )


class Doc(BaseModel):
    """A projection document (fields depend on the resource)."""

    model_config = ConfigDict(extra="allow")
