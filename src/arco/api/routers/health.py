"""Liveness, readiness (compaction lag under a bound) and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from arco import metrics
from arco.api.state import api_state

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="Ready when the compactor lags the ledger by less than a bound")
def readyz(request: Request) -> JSONResponse:
    state = api_state(request)
    head = state.ledger.head()
    watermark = state.reader.watermark()
    lag = max(0, head - watermark)
    metrics.COMPACTION_LAG.set(lag)
    ready = lag <= state.max_lag_ready
    body = {"ready": ready, "ledger_head": head, "watermark": watermark, "lag": lag}
    return JSONResponse(body, status_code=200 if ready else 503)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
def prometheus_metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
