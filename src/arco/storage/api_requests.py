"""Durable Idempotency-Key records of the API (same key + same body → same answer)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError

from arco.fold.rows import Scope
from arco.storage.database import read_transaction, write_transaction
from arco.storage.schema import api_requests


@dataclass(frozen=True)
class StoredResponse:
    request_hash: str
    status_code: int
    body: str


def find_response(engine: Engine, scope: Scope, key: str) -> StoredResponse | None:
    table = api_requests
    query = select(table.c.request_hash, table.c.status_code, table.c.response_body).where(
        table.c.tenant_id == scope.tenant_id,
        table.c.workspace_id == scope.workspace_id,
        table.c.idempotency_key == key,
    )
    with read_transaction(engine) as connection:
        row = connection.execute(query).first()
    return None if row is None else StoredResponse(row[0], int(row[1]), row[2])


def store_response(
    engine: Engine, scope: Scope, key: str, response: StoredResponse, now_ms: int
) -> StoredResponse:
    """Keep the first response for ``key``; if another request stored one first, return it."""
    try:
        with write_transaction(engine) as connection:
            connection.execute(
                api_requests.insert().values(
                    tenant_id=scope.tenant_id,
                    workspace_id=scope.workspace_id,
                    idempotency_key=key,
                    request_hash=response.request_hash,
                    status_code=response.status_code,
                    response_body=response.body,
                    created_at_ms=now_ms,
                )
            )
        return response
    except IntegrityError:
        existing = find_response(engine, scope, key)
        assert existing is not None
        return existing
