"""Runs over HTTP: request, list, get, tasks, cancel; tenants never see each other."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from arco.api.app import API_PREFIX
from arco.runtime.instance import Instance
from support.api import ACME, GLOBEX, api_client

RUNS = f"{API_PREFIX}/runs"


@pytest.fixture
def client(db_url: str) -> Iterator[tuple[TestClient, Instance]]:
    with api_client(db_url) as pair:
        yield pair


def request_run(http: TestClient, key: str = "r1") -> dict[str, object]:
    response = http.post(
        RUNS,
        json={
            "asset_selection": ["raw"],
            "partition_keys": ["2024-01-01"],
            "tags": {"team": "data"},
        },
        headers={**ACME, "Idempotency-Key": key},
    )
    assert response.status_code == 202, response.text
    body: dict[str, object] = response.json()
    return body


def test_request_then_read_your_write(client: tuple[TestClient, Instance]) -> None:
    http, _ = client
    accepted = request_run(http)
    assert str(accepted["id"]).startswith("run_")
    run = http.get(
        f"{RUNS}/{accepted['id']}",
        params={"wait_for_event_id": accepted["accepted_event_id"]},
        headers=ACME,
    )
    assert run.status_code == 200
    assert run.json()["state"] == "queued"
    assert run.json()["partition_selection"] == {"kind": "keys", "keys": ["2024-01-01"]}
    listed = http.get(RUNS, params={"state": "queued"}, headers=ACME).json()
    assert [r["run_id"] for r in listed["items"]] == [accepted["id"]]
    assert http.get(f"{RUNS}/{accepted['id']}/tasks", headers=ACME).json()["items"] == []


def test_same_idempotency_key_is_the_same_run(client: tuple[TestClient, Instance]) -> None:
    http, instance = client
    assert request_run(http, "same") == request_run(http, "same")
    assert instance.ledger.head() == 1


def test_cancel_and_cancel_again(client: tuple[TestClient, Instance]) -> None:
    http, _ = client
    run_id = request_run(http)["id"]
    cancel = http.post(f"{RUNS}/{run_id}/cancel", json={"reason": "oops"}, headers=ACME)
    assert cancel.status_code == 202
    run = http.get(
        f"{RUNS}/{run_id}",
        params={"wait_for_event_id": cancel.json()["accepted_event_id"]},
        headers=ACME,
    ).json()
    assert run["state"] in ("cancelling", "cancelled")
    if run["state"] == "cancelled":
        again = http.post(f"{RUNS}/{run_id}/cancel", headers=ACME)
        assert again.status_code == 409
        assert again.json()["error"]["code"] == "illegal_transition"


def test_bad_inputs_are_4xx_with_the_field(client: tuple[TestClient, Instance]) -> None:
    http, _ = client
    empty = http.post(RUNS, json={"asset_selection": []}, headers=ACME)
    assert empty.status_code == 422
    assert empty.json()["error"]["field"] == "asset_selection"
    bad_state = http.get(RUNS, params={"state": "exploded"}, headers=ACME)
    assert bad_state.status_code == 422
    assert bad_state.json()["error"]["field"] == "state"
    assert "queued" in bad_state.json()["error"]["allowed"]
    assert http.get(f"{RUNS}/run_nope", headers=ACME).status_code == 404


def test_another_tenant_cannot_see_or_cancel_the_run(client: tuple[TestClient, Instance]) -> None:
    http, _ = client
    run_id = request_run(http)["id"]
    assert http.get(f"{RUNS}/{run_id}", params={"fresh": "true"}, headers=GLOBEX).status_code == 404
    assert http.post(f"{RUNS}/{run_id}/cancel", headers=GLOBEX).status_code == 404
    assert http.get(RUNS, headers=GLOBEX).json()["items"] == []
