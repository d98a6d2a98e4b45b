"""The FastAPI application: routers under /api/v1/orchestration, health at the root."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, FastAPI, Request, Response

from arco import __version__
from arco.api.errors import install_error_handlers
from arco.api.routers import (
    backfills,
    conflicts,
    events,
    health,
    partitions,
    runs,
    schedules,
    sensors,
    workers,
)
from arco.api.state import ApiState
from arco.logs import get_logger
from arco.metrics import API_REQUESTS

API_PREFIX = "/api/v1/orchestration"
log = get_logger("api")

# Routers added by each domain module; kept in one list so the OpenAPI document
# and the tests see the same surface.
RESOURCE_ROUTERS: list[APIRouter] = [
    events.router,
    conflicts.router,
    runs.router,
    sensors.router,
    schedules.router,
    backfills.router,
    partitions.router,
    workers.router,
]


def openapi_document() -> dict[str, object]:
    """The OpenAPI contract, as served at /openapi.json (checked in as docs/openapi.json)."""
    document: dict[str, object] = create_app(None).openapi()
    return document


def create_app(state: ApiState | None) -> FastAPI:
    """The API over ``state`` (``None`` only to render the OpenAPI document)."""
    app = FastAPI(
        title="Arco orchestration API",
        version=__version__,
        description=(
            "Schedules, sensors, backfills, partitions and runs of an event-sourced orchestrator. "
            "Mutations answer 202 with `accepted_event_id`; pass it as `wait_for_event_id` "
            "to a read for read-your-writes. Send `Idempotency-Key` on mutations."
        ),
    )
    app.state.arco = state
    install_error_handlers(app)
    app.include_router(health.router)
    for router in RESOURCE_ROUTERS:
        app.include_router(router, prefix=API_PREFIX)

    @app.middleware("http")
    async def count_requests(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        API_REQUESTS.labels(request.method, path, str(response.status_code)).observe(
            time.perf_counter() - started
        )
        return response

    return app
