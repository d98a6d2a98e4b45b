"""What the API process holds: the store, secrets, tokens, the loaded project."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import Header, Request

from arco.api.auth import TokenMap
from arco.clock import Clock
from arco.compactor import Compactor
from arco.fold.rows import Scope
from arco.ledger import SqlLedger
from arco.secrets import TenantSecrets
from arco.services import ServiceContext
from arco.storage.reader import ProjectionReader


@dataclass
class ApiState:
    ledger: SqlLedger
    reader: ProjectionReader
    compactor: Compactor
    secrets: TenantSecrets
    tokens: TokenMap
    clock: Clock
    # The user's project (arco.sdk Definitions) when one is loaded; routers that need
    # asset metadata (backfills, partitions) read it from here.
    definitions: Any = None
    max_lag_ready: int = 10_000
    compute_logs_dir: Path | None = None  # where workers write compute logs (if shared)
    extras: dict[str, Any] = field(default_factory=dict)


def api_state(request: Request) -> ApiState:
    state: ApiState = request.app.state.arco
    return state


def caller_scope(
    request: Request,
    authorization: str | None = Header(default=None, description="Bearer <token>"),
) -> Scope:
    return api_state(request).tokens.scope_for(authorization)


def service_context(request: Request, scope: Scope) -> ServiceContext:
    state = api_state(request)
    return ServiceContext(
        scope=scope,
        ledger=state.ledger,
        reader=state.reader,
        secrets=state.secrets,
        clock=state.clock,
        actor=f"api:{scope.tenant_id}",
    )
