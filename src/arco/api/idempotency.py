"""Idempotency-Key for mutations, kept durably in the database.

Same key and same request → the first response again (even after a restart);
same key and a different request → 409 ``idempotency_key_reused``.  Only
successful answers are kept: a rejected request can be corrected and retried.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from arco.api.state import api_state
from arco.errors import IdempotencyKeyReusedError, ValidationError
from arco.fold.rows import Scope
from arco.ids import canonical_json
from arco.storage.api_requests import StoredResponse, find_response, store_response

MAX_KEY_LENGTH = 255


def request_hash(method: str, path: str, body: BaseModel | None) -> str:
    payload = None if body is None else body.model_dump(mode="json")
    return hashlib.sha256(canonical_json([method, path, payload]).encode()).hexdigest()


def idempotent(
    request: Request,
    scope: Scope,
    key: str | None,
    body: BaseModel | None,
    handler: Callable[[], tuple[int, BaseModel]],
) -> JSONResponse:
    """Run ``handler`` once per (scope, key); replay its stored answer afterwards."""
    if key is None:
        status, result = handler()
        return JSONResponse(result.model_dump(mode="json"), status_code=status)
    if not key or len(key) > MAX_KEY_LENGTH:
        raise ValidationError(
            "Idempotency-Key must be 1 to 255 characters",
            field="Idempotency-Key",
            allowed=f"1..{MAX_KEY_LENGTH} characters",
        )
    state = api_state(request)
    engine = state.ledger.engine
    fingerprint = request_hash(request.method, request.url.path, body)
    stored = find_response(engine, scope, key)
    if stored is None:
        status, result = handler()
        answer = StoredResponse(fingerprint, status, json.dumps(result.model_dump(mode="json")))
        now_ms = int(state.clock.now().timestamp() * 1000)
        stored = store_response(engine, scope, key, answer, now_ms)
    if stored.request_hash != fingerprint:
        raise IdempotencyKeyReusedError(
            "this Idempotency-Key was already used with a different request",
            field="Idempotency-Key",
            value=key,
        )
    return JSONResponse(json.loads(stored.body), status_code=stored.status_code)
