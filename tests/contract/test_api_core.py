"""The API's shared machinery: auth, errors, idempotency, pagination, read-your-writes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import APIRouter, Request
from fastapi.testclient import TestClient
from pydantic import BaseModel

from arco.api.app import API_PREFIX
from arco.api.idempotency import idempotent
from arco.api.models import AcceptedResponse
from arco.api.params import WriteScope
from arco.api.state import service_context
from arco.runtime.instance import Instance
from support.api import ACME, GLOBEX, api_client
from support.factories import envelope, run_requested

EVENTS = f"{API_PREFIX}/events"


class Body(BaseModel):
    run_key: str


def _test_router() -> APIRouter:
    router = APIRouter()

    @router.post("/test-requests", status_code=202)
    def post(body: Body, request: Request, scope: WriteScope) -> object:
        def handler() -> tuple[int, BaseModel]:
            ctx = service_context(request, scope)
            accepted = ctx.accept([ctx.event(run_requested(body.run_key, tenant=scope.tenant_id))])
            return 202, AcceptedResponse(
                accepted_event_id=accepted.event_id,
                offset=accepted.offset,
                duplicate=accepted.duplicate,
            )

        return idempotent(request, scope, request.headers.get("Idempotency-Key"), body, handler)

    return router


@pytest.fixture
def client(db_url: str) -> Iterator[tuple[TestClient, Instance]]:
    with api_client(db_url) as (client, instance):
        client.app.include_router(_test_router(), prefix=API_PREFIX)  # type: ignore[attr-defined]
        yield client, instance


def test_requests_without_a_valid_token_are_401_with_a_stable_code(
    client: tuple[TestClient, Instance],
) -> None:
    http, _ = client
    missing = http.get(EVENTS)
    assert missing.status_code == 401
    assert missing.json()["error"]["code"] == "unauthenticated"
    assert missing.json()["error"]["field"] == "Authorization"
    assert http.get(EVENTS, headers={"Authorization": "Bearer nope"}).status_code == 401


def test_idempotency_key_replays_the_first_answer_and_rejects_another_body(
    client: tuple[TestClient, Instance],
) -> None:
    http, instance = client
    url = f"{API_PREFIX}/test-requests"
    first = http.post(url, json={"run_key": "a"}, headers={**ACME, "Idempotency-Key": "k1"})
    again = http.post(url, json={"run_key": "a"}, headers={**ACME, "Idempotency-Key": "k1"})
    assert first.status_code == again.status_code == 202
    assert first.json() == again.json()
    other = http.post(url, json={"run_key": "b"}, headers={**ACME, "Idempotency-Key": "k1"})
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    assert instance.ledger.head() == 1
    # Keys are per tenant: globex may use the same key for its own request.
    assert (
        http.post(
            url, json={"run_key": "b"}, headers={**GLOBEX, "Idempotency-Key": "k1"}
        ).status_code
        == 202
    )


def test_bad_json_body_is_422_naming_the_field(client: tuple[TestClient, Instance]) -> None:
    http, _ = client
    response = http.post(f"{API_PREFIX}/test-requests", json={"run_kee": "a"}, headers=ACME)
    assert response.status_code == 422
    body = response.json()["error"]
    assert body["code"] == "invalid_input"
    assert body["field"] == "run_key"


def test_read_your_writes_waits_for_the_compactor(client: tuple[TestClient, Instance]) -> None:
    http, instance = client
    accepted = http.post(f"{API_PREFIX}/test-requests", json={"run_key": "a"}, headers=ACME).json()
    assert instance.reader.watermark() == 0
    response = http.get(
        f"{API_PREFIX}/conflicts",
        params={"wait_for_event_id": accepted["accepted_event_id"], "timeout_ms": 2000},
        headers=ACME,
    )
    assert response.status_code == 200
    assert instance.reader.watermark() >= accepted["offset"]


def test_waiting_for_another_tenants_event_is_404(client: tuple[TestClient, Instance]) -> None:
    http, _ = client
    accepted = http.post(f"{API_PREFIX}/test-requests", json={"run_key": "a"}, headers=ACME).json()
    response = http.get(
        EVENTS, params={"wait_for_event_id": accepted["accepted_event_id"]}, headers=GLOBEX
    )
    assert response.status_code == 404


def test_events_are_scoped_to_the_caller_and_paginate(client: tuple[TestClient, Instance]) -> None:
    http, instance = client
    instance.ledger.append([envelope(run_requested(f"k{i}")) for i in range(5)])
    instance.ledger.append([envelope(run_requested("g", tenant="globex"), tenant="globex")])
    page = http.get(EVENTS, params={"limit": 3}, headers=ACME).json()
    assert [e["offset"] for e in page["items"]] == [1, 2, 3]
    rest = http.get(EVENTS, params={"after": page["next_after"]}, headers=ACME).json()
    assert [e["offset"] for e in rest["items"]] == [4, 5]
    theirs = http.get(EVENTS, headers=GLOBEX).json()
    assert [e["data"]["run_key"] for e in theirs["items"]] == ["g"]


def test_conflicts_list_and_bad_cursor(client: tuple[TestClient, Instance]) -> None:
    http, instance = client
    instance.ledger.append([envelope(run_requested("k", partition="a"))])
    instance.ledger.append([envelope(run_requested("k", partition="b"))])
    listed = http.get(f"{API_PREFIX}/conflicts", params={"fresh": "true"}, headers=ACME).json()
    assert [c["run_key"] for c in listed["items"]] == ["k"]
    bad = http.get(f"{API_PREFIX}/conflicts", params={"cursor": "garbage!"}, headers=ACME)
    assert bad.status_code == 422
    assert bad.json()["error"]["field"] == "cursor"


def test_health_ready_and_metrics(client: tuple[TestClient, Instance]) -> None:
    http, _ = client
    assert http.get("/healthz").json() == {"status": "ok"}
    assert http.get("/readyz").json()["ready"] is True
    assert "arco_api_request_seconds" in http.get("/metrics").text


def test_a_request_id_with_any_characters_is_kept_and_replayed(
    client: tuple[TestClient, Instance],
) -> None:
    # PostgreSQL text cannot hold NUL: the stored key must still round-trip, not 500.
    http, _ = client
    for request_id in ("c\x00d", "\x00" * 200):  # the longest allowed, escaped twice as long
        body = {"name": "n", "cron": "@daily", "asset_selection": ["raw"]}
        body["client_request_id"] = request_id
        first = http.post(f"{API_PREFIX}/schedules", json=body, headers=ACME)
        again = http.post(f"{API_PREFIX}/schedules", json=body, headers=ACME)
        assert first.status_code == again.status_code == 202, first.text
        assert first.json()["id"] == again.json()["id"]
        body["name"] = "other"
        assert http.post(f"{API_PREFIX}/schedules", json=body, headers=ACME).status_code == 409


def test_integers_beyond_64_bits_are_422_naming_the_field(
    client: tuple[TestClient, Instance],
) -> None:
    # The stores hold 64-bit integers; a bigger one must be refused at the edge, not a 500.
    http, _ = client
    huge = 2**63
    events = http.get(EVENTS, params={"after": huge}, headers=ACME)
    assert (events.status_code, events.json()["error"]["field"]) == (422, "after"), events.text
    body = {"name": "n", "cron": "@daily", "asset_selection": ["raw"], "max_catchup_ticks": huge}
    created = http.post(f"{API_PREFIX}/schedules", json=body, headers=ACME)
    assert (created.status_code, created.json()["error"]["field"]) == (422, "max_catchup_ticks")
    sensor = {"name": "s", "kind": "poll", "minimum_interval_seconds": huge}
    polled = http.post(f"{API_PREFIX}/sensors", json=sensor, headers=ACME)
    assert (polled.status_code, polled.json()["error"]["field"]) == (
        422,
        "minimum_interval_seconds",
    )


def test_a_field_keeps_its_own_lower_bound_with_the_64_bit_cap(
    client: tuple[TestClient, Instance],
) -> None:
    http, _ = client
    body = {"name": "n", "cron": "@daily", "asset_selection": ["raw"], "max_catchup_ticks": 0}
    created = http.post(f"{API_PREFIX}/schedules", json=body, headers=ACME)
    assert (created.status_code, created.json()["error"]["field"]) == (422, "max_catchup_ticks")
