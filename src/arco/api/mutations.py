"""What every mutation route shares: the Idempotency-Key header and the 202 answer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from arco.api.idempotency import idempotent
from arco.api.models import AcceptedResponse
from arco.api.state import service_context
from arco.fold.rows import Scope
from arco.services import Accepted, ServiceContext

IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", description="Repeat-safe request id (kept durably)"),
]


def accepted_fields(accepted: Accepted) -> dict[str, Any]:
    """The AcceptedResponse fields of ``accepted`` (for answers that extend it)."""
    return {
        "accepted_event_id": accepted.event_id,
        "offset": accepted.offset,
        "duplicate": accepted.duplicate,
        "id": accepted.resource_id,
    }


def accepted_response(accepted: Accepted) -> tuple[int, BaseModel]:
    return 202, AcceptedResponse(**accepted_fields(accepted))


def mutate(
    request: Request,
    scope: Scope,
    key: str | None,
    body: BaseModel | None,
    action: Callable[[ServiceContext], Accepted],
) -> JSONResponse:
    """Run ``action`` once per Idempotency-Key and answer 202 with its event."""
    return idempotent(
        request,
        scope,
        key,
        body,
        lambda: accepted_response(action(service_context(request, scope))),
    )
