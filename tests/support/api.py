"""An API app over a real test database, driven in-process through httpx."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from fastapi.testclient import TestClient

from arco.api.app import create_app
from arco.api.auth import TokenMap
from arco.api.state import ApiState
from arco.clock import Clock, SystemClock
from arco.fold.rows import Scope
from arco.runtime.instance import Instance
from arco.secrets import TenantSecrets
from support.factories import SECRET

TOKENS = {"token-acme": Scope("acme", "prod"), "token-globex": Scope("globex", "prod")}
ACME = {"Authorization": "Bearer token-acme"}
GLOBEX = {"Authorization": "Bearer token-globex"}


def api_state(instance: Instance, definitions: object = None) -> ApiState:
    return ApiState(
        ledger=instance.ledger,
        reader=instance.reader,
        compactor=instance.compactor,
        secrets=TenantSecrets({"acme": SECRET, "globex": SECRET + "-g"}),
        tokens=TokenMap(TOKENS),
        clock=instance.clock,
        definitions=definitions,
    )


@contextmanager
def api_client(
    db_url: str, *, clock: Clock | None = None, definitions: object = None
) -> Iterator[tuple[TestClient, Instance]]:
    instance = Instance.open(db_url, clock=clock or SystemClock())
    app = create_app(api_state(instance, definitions))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client, instance
    instance.close()
