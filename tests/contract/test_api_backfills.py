"""Backfills over HTTP on every backend: preview, create, read, chunks, pause/resume/cancel
with state versions, retry-failed; errors name the field; tenants never see each other."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from arco import DailyPartitionsDefinition, Definitions, HourlyPartitionsDefinition, asset
from arco.api.app import API_PREFIX
from arco.clock import ManualClock
from arco.events import BackfillCreated
from arco.runtime.backfill_pass import run_backfill_pass
from arco.runtime.instance import Instance
from arco.secrets import TenantSecrets
from support.api import ACME, GLOBEX, api_client
from support.backfills import run_events
from support.factories import SECRET, TENANT, envelope

BACKFILLS = f"{API_PREFIX}/backfills"
NOW = datetime(2024, 6, 1, tzinfo=UTC)
DAILY = DailyPartitionsDefinition(start_date="2024-01-01")
# More than a million hourly partitions by NOW.
HOURS = HourlyPartitionsDefinition(start_date="1900-01-01-00:00")
JANUARY = {"kind": "range", "start": "2024-01-01", "end": "2024-01-31"}


def project() -> Definitions:
    @asset(partitions_def=DAILY, code_version="1")
    def raw() -> None:
        return None

    @asset(deps=[raw], partitions_def=DAILY)
    def clean() -> None:
        return None

    @asset
    def report() -> None:
        return None

    @asset(partitions_def=HOURS)
    def ticks() -> None:
        return None

    return Definitions(assets=[raw, clean, report, ticks])


class Api:
    """One test's HTTP client, store and clock; helpers drive the backfill controller."""

    def __init__(self, http: TestClient, instance: Instance, clock: ManualClock) -> None:
        self.http, self.instance, self.clock = http, instance, clock

    def create(
        self, headers: dict[str, str] | None = None, expect: int = 202, **fields: Any
    ) -> dict[str, Any]:
        body = {"asset_selection": ["raw"], "selector": JANUARY, "chunk_size": 10, **fields}
        response = self.http.post(BACKFILLS, json=body, headers={**ACME, **(headers or {})})
        assert response.status_code == expect, response.text
        answer: dict[str, Any] = response.json()
        return answer

    def get(self, path: str = "", expect: int = 200, **params: Any) -> Any:
        response = self.http.get(f"{BACKFILLS}{path}", params=params, headers=ACME)
        assert response.status_code == expect, response.text
        return response.json()

    def read(self, accepted: dict[str, Any], backfill_id: str | None = None) -> Any:
        """The backfill once ``accepted`` is folded (read-your-writes)."""
        return self.get(
            f"/{backfill_id or accepted['id']}", wait_for_event_id=accepted["accepted_event_id"]
        )

    def act(
        self, backfill_id: str, action: str, version: int, headers: dict[str, str] | None = None
    ) -> Any:
        return self.http.post(
            f"{BACKFILLS}/{backfill_id}/{action}",
            json={"expected_state_version": version},
            headers={**ACME, **(headers or {})},
        )

    def controller_pass(self) -> None:
        """One backfill-controller pass over folded projections, then fold what it decided."""
        self.instance.compactor.catch_up()
        env = self.instance.runtime_env(TenantSecrets({TENANT: SECRET}))
        run_backfill_pass(env, self.clock.now())
        self.instance.compactor.catch_up()

    def finish_chunks(self, backfill_id: str, failing: frozenset[str] = frozenset()) -> None:
        """Run every planned chunk's run to the end (keys in ``failing`` fail)."""
        for chunk in self.get(f"/{backfill_id}/chunks", state="planned")["items"]:
            events = run_events(chunk["run_id"], chunk["partition_keys"], failing)
            self.instance.ledger.append([envelope(e, at=self.clock.now()) for e in events])
        self.instance.compactor.catch_up()


@pytest.fixture
def api(db_url: str) -> Iterator[Api]:
    clock = ManualClock(NOW)
    with api_client(db_url, clock=clock, definitions=project()) as (http, instance):
        yield Api(http, instance, clock)


def test_preview_counts_chunks_and_first_keys_and_writes_nothing(api: Api) -> None:
    body = {"asset_selection": ["raw", "clean"], "selector": JANUARY, "chunk_size": 7}
    response = api.http.post(f"{BACKFILLS}/preview", json=body, headers=ACME)
    assert response.status_code == 200, response.text
    preview = response.json()
    assert (preview["partition_count"], preview["chunk_count"], preview["chunk_size"]) == (31, 5, 7)
    assert preview["first_chunk_keys"] == [f"2024-01-0{d}" for d in range(1, 8)]
    assert preview["selector"] == JANUARY
    keys = {"kind": "keys", "keys": ["2024-02-01", "2024-01-01"]}
    picked = api.http.post(
        f"{BACKFILLS}/preview", json={**body, "selector": keys}, headers=ACME
    ).json()
    assert picked["first_chunk_keys"] == ["2024-02-01", "2024-01-01"]
    assert api.instance.ledger.head() == 0


def test_create_then_read_your_write_with_counters(api: Api) -> None:
    accepted = api.create(tags={"team": "data"}, max_concurrent_runs=2)
    assert accepted["duplicate"] is False
    backfill = api.read(accepted)
    assert backfill["backfill_id"] == accepted["id"]
    assert (backfill["state"], backfill["display_state"], backfill["state_version"]) == (
        "PENDING",
        "PENDING",
        0,
    )
    assert (backfill["total_partitions"], backfill["total_chunks"]) == (31, 4)
    assert backfill["max_concurrent_runs"] == 2
    assert backfill["tags"] == {"team": "data"}
    assert backfill["counters"]["partitions"] == {
        "total": 31,
        "planned": 0,
        "not_planned": 31,
        "active": 0,
        "succeeded": 0,
        "failed": 0,
        "cancelled": 0,
    }


def test_idempotency_key_and_client_request_id_create_one_backfill(api: Api) -> None:
    first = api.create(headers={"Idempotency-Key": "k1"})
    assert api.create(headers={"Idempotency-Key": "k1"}) == first
    by_body = api.create(client_request_id="req-1")
    # client_request_id is the Idempotency-Key when no header is sent: the same answer.
    assert api.create(client_request_id="req-1") == by_body
    assert api.instance.ledger.head() == 2
    reused = api.create(headers={"Idempotency-Key": "k1"}, expect=409, chunk_size=5)
    assert reused["error"]["code"] == "idempotency_key_reused"


def test_a_million_partition_range_is_accepted_without_expanding_it(api: Api) -> None:
    last = HOURS.key_at(999_999)
    selector = {"kind": "range", "start": "1900-01-01-00:00", "end": last}
    preview = api.http.post(
        f"{BACKFILLS}/preview",
        json={"asset_selection": ["ticks"], "selector": selector, "chunk_size": 1000},
        headers=ACME,
    ).json()
    assert (preview["partition_count"], preview["chunk_count"]) == (1_000_000, 1000)
    accepted = api.create(
        asset_selection=["ticks"], selector=selector, chunk_size=1000, max_concurrent_runs=2
    )
    backfill = api.read(accepted)
    assert (backfill["total_partitions"], backfill["total_chunks"]) == (1_000_000, 1000)
    [stored] = api.instance.ledger.read(0, 10)
    assert isinstance(stored.data, BackfillCreated)
    assert len(stored.data.model_dump_json()) < 2_000  # the selector, never the keys
    api.controller_pass()
    # Planning resolves only the keys of the chunks it plans.
    chunks = api.get(f"/{accepted['id']}/chunks")["items"]
    assert [c["chunk_index"] for c in chunks] == [0, 1]
    assert chunks[1]["partition_keys"][0] == HOURS.key_at(1000)


def test_list_filters_by_state_and_time_and_pages(api: Api) -> None:
    ids = []
    for _ in range(3):
        ids.append(api.create()["id"])
        api.clock.advance(timedelta(hours=1))
    paused = api.act(ids[0], "pause", 0)
    assert paused.status_code == 202
    first = api.get(limit=2, wait_for_event_id=paused.json()["accepted_event_id"])
    assert [b["backfill_id"] for b in first["items"]] == [ids[2], ids[1]]
    rest = api.get(limit=2, cursor=first["next_cursor"])
    assert ([b["backfill_id"] for b in rest["items"]], rest["next_cursor"]) == ([ids[0]], None)
    assert [b["backfill_id"] for b in api.get(state="PAUSED")["items"]] == [ids[0]]
    since = (NOW + timedelta(minutes=30)).isoformat()
    until = (NOW + timedelta(minutes=90)).isoformat()
    assert [b["backfill_id"] for b in api.get(since=since, until=until)["items"]] == [ids[1]]
    bad = api.get(state="DONE", expect=422)["error"]
    assert (bad["field"], "RUNNING" in bad["allowed"]) == ("state", True)


def test_chunks_are_listed_in_index_order_with_their_runs(api: Api) -> None:
    accepted = api.create(max_concurrent_runs=2)
    api.controller_pass()
    backfill = api.get(f"/{accepted['id']}")
    assert (backfill["state"], backfill["state_version"]) == ("RUNNING", 1)
    assert backfill["counters"]["chunks"]["active"] == 2
    chunks = api.get(f"/{accepted['id']}/chunks", limit=1)
    assert [c["chunk_index"] for c in chunks["items"]] == [0]
    second = api.get(f"/{accepted['id']}/chunks", cursor=chunks["next_cursor"])
    assert [c["chunk_index"] for c in second["items"]] == [1]
    chunk = chunks["items"][0]
    assert chunk["partition_keys"] == [f"2024-01-{d:02d}" for d in range(1, 11)]
    assert (chunk["state"], chunk["display_state"]) == ("planned", "planned")
    assert chunk["run_id"].startswith("run_")
    api.finish_chunks(accepted["id"])
    done = api.get(f"/{accepted['id']}/chunks", state="succeeded")["items"]
    assert [c["chunk_index"] for c in done] == [0, 1]
    assert api.get(f"/{accepted['id']}")["counters"]["partitions"]["succeeded"] == 20
    assert api.get(f"/{accepted['id']}/chunks", state="weird", expect=422)["error"]["field"] == (
        "state"
    )


def test_pause_resume_cancel_check_the_state_version(api: Api) -> None:
    backfill_id = api.create()["id"]
    paused = api.act(backfill_id, "pause", 0)
    assert paused.status_code == 202, paused.text
    assert paused.json()["id"] == backfill_id
    backfill = api.read(paused.json(), backfill_id)
    assert (backfill["state"], backfill["state_version"]) == ("PAUSED", 1)
    assert backfill["last_transition"]["changed_by"] == "api:acme"

    stale = api.act(backfill_id, "resume", 0)
    assert stale.status_code == 409
    error = stale.json()["error"]
    assert (error["code"], error["field"]) == ("version_conflict", "expected_state_version")
    assert error["details"]["current_state_version"] == 1

    illegal = api.act(backfill_id, "pause", 1)
    assert illegal.status_code == 409
    error = illegal.json()["error"]
    assert error["code"] == "illegal_transition"
    assert error["details"]["current_state"] == "PAUSED"
    assert sorted(error["allowed"]) == ["cancel", "resume"]

    resumed = api.act(backfill_id, "resume", 1, headers={"Idempotency-Key": "resume-1"})
    assert resumed.status_code == 202
    # The same request again (same key): the first answer, not a conflict.
    again = api.act(backfill_id, "resume", 1, headers={"Idempotency-Key": "resume-1"})
    assert again.json() == resumed.json()
    assert api.read(resumed.json(), backfill_id)["state"] == "RUNNING"

    cancelled = api.act(backfill_id, "cancel", 2)
    assert cancelled.status_code == 202
    assert api.read(cancelled.json(), backfill_id)["state"] == "CANCELLING"
    api.controller_pass()
    assert api.get(f"/{backfill_id}")["state"] == "CANCELLED"
    assert api.act(backfill_id, "resume", 4).json()["error"]["code"] == "illegal_transition"
    missing = api.http.post(f"{BACKFILLS}/{backfill_id}/pause", json={}, headers=ACME)
    assert (missing.status_code, missing.json()["error"]["field"]) == (
        422,
        "expected_state_version",
    )


def test_a_paused_backfill_with_failed_chunks_says_so(api: Api) -> None:
    backfill_id = api.create(max_concurrent_runs=1)["id"]
    api.controller_pass()
    assert api.act(backfill_id, "pause", 1).status_code == 202
    api.finish_chunks(backfill_id, failing=frozenset({"2024-01-03"}))
    backfill = api.get(f"/{backfill_id}", fresh="true")
    assert (backfill["state"], backfill["display_state"]) == ("PAUSED", "PAUSED_WITH_FAILURES")
    assert backfill["counters"]["chunks"]["failed"] == 1
    listed = api.get(state="PAUSED")["items"]
    assert [b["display_state"] for b in listed] == ["PAUSED_WITH_FAILURES"]


def test_retry_failed_makes_one_new_backfill_per_request_id(api: Api) -> None:
    keys = ["2024-01-01", "2024-01-02", "2024-01-03"]
    backfill_id = api.create(selector={"kind": "keys", "keys": keys}, chunk_size=3)["id"]
    early = api.http.post(
        f"{BACKFILLS}/{backfill_id}/retry-failed", json={"retry_request_id": "r"}, headers=ACME
    )
    assert (early.status_code, early.json()["error"]["code"]) == (409, "illegal_transition")
    api.controller_pass()
    api.finish_chunks(backfill_id, failing=frozenset({"2024-01-02"}))
    api.controller_pass()
    assert api.get(f"/{backfill_id}")["state"] == "FAILED"

    def retry(**kwargs: Any) -> Any:
        headers = {**ACME, **kwargs.pop("headers", {})}
        return api.http.post(f"{BACKFILLS}/{backfill_id}/retry-failed", headers=headers, **kwargs)

    first = retry(json={"retry_request_id": "retry-1"})
    assert first.status_code == 202, first.text
    second = retry(json={"retry_request_id": "retry-1"})
    assert (second.json()["id"], second.json()["duplicate"]) == (first.json()["id"], True)
    child = api.read(first.json())
    assert child["selector"] == {"kind": "keys", "keys": ["2024-01-02"]}
    assert child["parent_backfill_id"] == backfill_id
    assert api.get(f"/{backfill_id}")["retry_backfill_ids"] == [first.json()["id"]]
    by_header = retry(headers={"Idempotency-Key": "retry-2"})
    assert by_header.status_code == 202
    assert by_header.json()["id"] != first.json()["id"]
    anonymous = retry(json={})
    assert (anonymous.status_code, anonymous.json()["error"]["field"]) == (422, "retry_request_id")


@pytest.mark.parametrize(
    ("fields", "code", "field", "allowed"),
    [
        ({"asset_selection": ["nope"]}, "invalid_input", "asset_selection", "raw"),
        ({"asset_selection": ["report"]}, "invalid_input", "asset_selection", "ticks"),
        ({"asset_selection": ["raw", "ticks"]}, "invalid_input", "asset_selection", "raw"),
        ({"asset_selection": []}, "invalid_input", "asset_selection", None),
        ({"chunk_size": 0}, "invalid_input", "chunk_size", "1..10000"),
        (
            {"selector": {"kind": "range", "start": "2024-01-01", "end": "2030-01-01"}},
            "invalid_partition_range",
            "end",
            None,
        ),
        ({"selector": {"kind": "keys", "keys": ["Jan 1"]}}, "invalid_partition_key", None, None),
        ({"selector": {"kind": "everything"}}, "invalid_input", "selector", None),
        ({"max_concurrent_runs": 0}, "invalid_input", "max_concurrent_runs", ">= 1"),
    ],
)
def test_bad_requests_are_4xx_naming_the_field_and_write_nothing(
    api: Api, fields: dict[str, Any], code: str, field: str | None, allowed: str | None
) -> None:
    error = api.create(expect=422, **fields)["error"]
    assert error["code"] == code
    if field is not None:
        assert error["field"] == field
    if allowed is not None:
        assert allowed in error["allowed"]
    assert api.instance.ledger.head() == 0


def test_unknown_backfills_are_404(api: Api) -> None:
    assert api.get("/nope", expect=404)["error"]["field"] == "backfill_id"
    assert api.get("/nope/chunks", expect=404)["error"]["code"] == "not_found"
    assert api.act("nope", "cancel", 0).status_code == 404


def test_without_a_project_backfills_say_how_to_load_one(db_url: str) -> None:
    with api_client(db_url) as (http, instance):
        body = {"asset_selection": ["raw"], "selector": JANUARY}
        for path in (BACKFILLS, f"{BACKFILLS}/preview"):
            response = http.post(path, json=body, headers=ACME)
            assert response.status_code == 409, response.text
            error = response.json()["error"]
            assert (error["field"], error["details"]["reason"]) == (
                "asset_selection",
                "no_project_loaded",
            )
            assert "-f" in error["allowed"]
        assert instance.ledger.head() == 0


def test_another_tenant_can_neither_read_nor_change_a_backfill(api: Api) -> None:
    keys = {"kind": "keys", "keys": ["2024-01-01"]}
    accepted = api.create(selector=keys, chunk_size=1)
    backfill_id = accepted["id"]
    api.controller_pass()
    api.finish_chunks(backfill_id, failing=frozenset({"2024-01-01"}))
    api.controller_pass()
    assert api.get(f"/{backfill_id}")["state"] == "FAILED"
    theirs = {"Authorization": GLOBEX["Authorization"]}
    read = {"wait_for_event_id": accepted["accepted_event_id"]}
    # Not even the event id is theirs to wait for.
    assert (
        api.http.get(f"{BACKFILLS}/{backfill_id}", params=read, headers=theirs).status_code == 404
    )
    for path in (f"/{backfill_id}", f"/{backfill_id}/chunks"):
        assert api.http.get(f"{BACKFILLS}{path}", headers=theirs).status_code == 404
    assert api.http.get(BACKFILLS, headers=theirs).json()["items"] == []
    for action in ("pause", "resume", "cancel"):
        response = api.http.post(
            f"{BACKFILLS}/{backfill_id}/{action}",
            json={"expected_state_version": 2},
            headers=theirs,
        )
        assert response.status_code == 404, action
    retry = api.http.post(
        f"{BACKFILLS}/{backfill_id}/retry-failed", json={"retry_request_id": "x"}, headers=theirs
    )
    assert retry.status_code == 404
    same_request_id = api.create(client_request_id="shared")
    other = api.http.post(
        BACKFILLS,
        json={"asset_selection": ["raw"], "selector": JANUARY, "client_request_id": "shared"},
        headers=theirs,
    )
    assert other.status_code == 202
    assert other.json()["id"] != same_request_id["id"]
    mine = api.get(f"/{backfill_id}")
    assert (mine["state"], mine["state_version"], mine["retry_backfill_ids"]) == ("FAILED", 2, [])


def test_openapi_documents_every_backfill_route(api: Api) -> None:
    paths = api.http.get("/openapi.json").json()["paths"]
    for path, method in (
        ("", "get"),
        ("", "post"),
        ("/preview", "post"),
        ("/{backfill_id}", "get"),
        ("/{backfill_id}/chunks", "get"),
        ("/{backfill_id}/pause", "post"),
        ("/{backfill_id}/resume", "post"),
        ("/{backfill_id}/cancel", "post"),
        ("/{backfill_id}/retry-failed", "post"),
    ):
        assert method in paths[f"{BACKFILLS}{path}"], (path, method)
    create = paths[BACKFILLS]["post"]
    assert "202" in create["responses"]
    assert json.dumps(create).count("Idempotency-Key") >= 1
