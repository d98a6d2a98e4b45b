"""Query parameters shared by read endpoints: pagination, time filters, consistency."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Query, Request

from arco.api.consistency import fold_tail, settle
from arco.api.state import api_state, caller_scope
from arco.fold.context import iso
from arco.fold.rows import Scope


@dataclass(frozen=True)
class PageParams:
    limit: int
    cursor: str | None


def page_params(
    limit: Annotated[int, Query(ge=1, le=1000, description="Items per page")] = 100,
    cursor: Annotated[str | None, Query(description="`next_cursor` of the previous page")] = None,
) -> PageParams:
    return PageParams(limit, cursor)


@dataclass(frozen=True)
class TimeRange:
    since: datetime | None
    until: datetime | None

    def bounds(self) -> tuple[str | None, str | None]:
        """The range as projection timestamps (ISO strings that sort like instants)."""
        return (
            None if self.since is None else iso(self.since),
            None if self.until is None else iso(self.until),
        )


def time_range(
    since: Annotated[
        datetime | None, Query(description="Only items at or after (ISO-8601)")
    ] = None,
    until: Annotated[
        datetime | None, Query(description="Only items at or before (ISO-8601)")
    ] = None,
) -> TimeRange:
    def aware(value: datetime | None) -> datetime | None:
        if value is None or value.tzinfo is not None:
            return value
        return value.replace(tzinfo=UTC)

    return TimeRange(aware(since), aware(until))


def consistent_scope(
    request: Request,
    scope: Annotated[Scope, Depends(caller_scope)],
    wait_for_event_id: Annotated[
        str | None, Query(description="Answer only once this event is folded (read-your-writes)")
    ] = None,
    timeout_ms: Annotated[int, Query(ge=0, le=30_000, description="How long to wait")] = 5_000,
    fresh: Annotated[bool, Query(description="Fold the ledger tail before answering")] = False,
) -> Scope:
    """The caller's scope, after honouring read-your-writes options."""
    settle(api_state(request), scope, wait_for_event_id, timeout_ms, fresh)
    return scope


def writer_scope(request: Request, scope: Annotated[Scope, Depends(caller_scope)]) -> Scope:
    """The caller's scope, after folding the ledger tail.

    Mutations validate against projections (does the run exist, which version is
    current); folding first means a client can act on what it just created.
    """
    fold_tail(api_state(request))
    return scope


ReadScope = Annotated[Scope, Depends(consistent_scope)]
WriteScope = Annotated[Scope, Depends(writer_scope)]
Paging = Annotated[PageParams, Depends(page_params)]
Window = Annotated[TimeRange, Depends(time_range)]
