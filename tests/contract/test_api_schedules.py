"""Schedules over HTTP on every backend: define, read, change, pause, trigger, tick history."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from arco.api.app import API_PREFIX
from arco.clock import ManualClock
from arco.runtime.instance import Instance
from support.api import ACME, GLOBEX, api_client

SCHEDULES = f"{API_PREFIX}/schedules"
START = datetime(2024, 1, 1, tzinfo=UTC)
Client = tuple[TestClient, Instance, ManualClock]


@pytest.fixture
def client(db_url: str) -> Iterator[Client]:
    clock = ManualClock(START)
    with api_client(db_url, clock=clock) as (http, instance):
        yield http, instance, clock


def create(http: TestClient, key: str | None = None, **fields: Any) -> dict[str, Any]:
    body = {"name": "hourly", "cron": "0 * * * *", "asset_selection": ["raw"], **fields}
    headers = {**ACME, **({"Idempotency-Key": key} if key else {})}
    response = http.post(SCHEDULES, json=body, headers=headers)
    assert response.status_code == 202, response.text
    accepted: dict[str, Any] = response.json()
    return accepted


def read(http: TestClient, path: str, accepted: dict[str, Any] | None = None, **params: Any) -> Any:
    if accepted is not None:
        params["wait_for_event_id"] = accepted["accepted_event_id"]
    response = http.get(path, params=params, headers=ACME)
    assert response.status_code == 200, response.text
    return response.json()


def test_create_then_read_your_write_and_list(client: Client) -> None:
    http, _, _ = client
    accepted = create(http, tags={"team": "data"}, timezone="Europe/Paris")
    schedule = read(http, f"{SCHEDULES}/{accepted['id']}", accepted)
    assert schedule["schedule_id"] == accepted["id"]
    assert (schedule["name"], schedule["enabled"], schedule["definition_version"]) == (
        "hourly",
        True,
        1,
    )
    assert schedule["spec"]["timezone"] == "Europe/Paris"
    assert schedule["spec"]["tags"] == {"team": "data"}
    assert schedule["spec"]["catchup_window_minutes"] == 1440
    assert schedule["next_tick_at"] == "2024-01-01T01:00:00.000000Z"
    assert schedule["state"] is None
    listed = read(http, SCHEDULES)
    assert [s["schedule_id"] for s in listed["items"]] == [accepted["id"]]
    assert read(http, SCHEDULES, enabled="false")["items"] == []


def test_list_paginates_by_name(client: Client) -> None:
    http, _, _ = client
    for name in ("c", "a", "b"):
        create(http, name=name)
    first = read(http, SCHEDULES, limit=2, fresh="true")
    assert [s["name"] for s in first["items"]] == ["a", "b"]
    rest = read(http, SCHEDULES, limit=2, cursor=first["next_cursor"])
    assert [s["name"] for s in rest["items"]] == ["c"]
    assert rest["next_cursor"] is None


def test_same_idempotency_key_creates_one_schedule(client: Client) -> None:
    http, instance, _ = client
    assert create(http, key="k1") == create(http, key="k1")
    assert instance.ledger.head() == 1


def test_chosen_id_is_used_and_reusing_it_for_another_definition_is_409(client: Client) -> None:
    http, _, _ = client
    assert create(http, schedule_id="nightly-raw")["id"] == "nightly-raw"
    # The same definition under the same id again is a harmless retry.
    assert create(http, schedule_id="nightly-raw")["duplicate"] is True
    clash = http.post(
        SCHEDULES,
        json={
            "name": "other",
            "cron": "0 * * * *",
            "asset_selection": ["raw"],
            "schedule_id": "nightly-raw",
        },
        headers=ACME,
    )
    assert clash.status_code == 409
    assert clash.json()["error"]["field"] == "schedule_id"


@pytest.mark.parametrize(
    ("fields", "code", "field", "allowed"),
    [
        ({"cron": "every day at noon"}, "invalid_cron", "cron", "5 fields"),
        ({"cron": "61 * * * *"}, "invalid_cron", "cron", "@daily"),
        ({"timezone": "Mars/Olympus_Mons"}, "invalid_timezone", "timezone", "IANA"),
    ],
)
def test_invalid_cron_or_timezone_is_422_with_the_field_and_allowed_forms(
    client: Client, fields: dict[str, str], code: str, field: str, allowed: str
) -> None:
    http, instance, _ = client
    body = {"name": "n", "cron": "0 * * * *", "asset_selection": ["raw"], **fields}
    response = http.post(SCHEDULES, json=body, headers=ACME)
    assert response.status_code == 422
    error = response.json()["error"]
    assert (error["code"], error["field"]) == (code, field)
    assert allowed in error["allowed"]
    assert instance.ledger.head() == 0
    # The same check guards a change to an existing schedule.
    accepted = create(http)
    patch = http.patch(f"{SCHEDULES}/{accepted['id']}", json=fields, headers=ACME)
    assert patch.status_code == 422
    assert (patch.json()["error"]["code"], patch.json()["error"]["field"]) == (code, field)


def test_bad_bodies_are_422_naming_the_field(client: Client) -> None:
    http, _, _ = client
    no_assets = http.post(
        SCHEDULES, json={"name": "n", "cron": "@daily", "asset_selection": []}, headers=ACME
    )
    assert (no_assets.status_code, no_assets.json()["error"]["field"]) == (422, "asset_selection")
    negative = http.post(
        SCHEDULES,
        json={"name": "n", "cron": "@daily", "asset_selection": ["a"], "max_catchup_ticks": 0},
        headers=ACME,
    )
    assert (negative.status_code, negative.json()["error"]["field"]) == (422, "max_catchup_ticks")
    accepted = create(http)
    empty = http.patch(f"{SCHEDULES}/{accepted['id']}", json={}, headers=ACME)
    assert (empty.status_code, empty.json()["error"]["field"]) == (422, "body")
    assert "cron" in empty.json()["error"]["allowed"]


def test_update_keeps_other_fields_and_a_stale_version_is_409(client: Client) -> None:
    http, _, _ = client
    sid = create(http, tags={"team": "data"})["id"]
    changed = http.patch(
        f"{SCHEDULES}/{sid}", json={"cron": "30 2 * * *", "expected_version": 1}, headers=ACME
    )
    assert changed.status_code == 202, changed.text
    schedule = read(http, f"{SCHEDULES}/{sid}", changed.json())
    assert schedule["definition_version"] == 2
    assert schedule["spec"]["cron"] == "30 2 * * *"
    assert (schedule["name"], schedule["spec"]["tags"]) == ("hourly", {"team": "data"})
    stale = http.patch(
        f"{SCHEDULES}/{sid}", json={"name": "late", "expected_version": 1}, headers=ACME
    )
    assert stale.status_code == 409
    error = stale.json()["error"]
    assert error["code"] == "version_conflict"
    assert error["field"] == "expected_version"
    assert error["details"]["current_version"] == 2
    assert read(http, f"{SCHEDULES}/{sid}", fresh="true")["name"] == "hourly"


def test_pause_and_resume_with_versions(client: Client) -> None:
    http, _, _ = client
    sid = create(http)["id"]
    paused = http.post(f"{SCHEDULES}/{sid}/pause", headers=ACME)
    assert paused.status_code == 202
    schedule = read(http, f"{SCHEDULES}/{sid}", paused.json())
    assert (schedule["enabled"], schedule["next_tick_at"]) == (False, None)
    assert [s["schedule_id"] for s in read(http, SCHEDULES, enabled="false")["items"]] == [sid]
    again = http.post(f"{SCHEDULES}/{sid}/pause", headers=ACME)
    assert again.status_code == 202
    assert again.json()["duplicate"] is True
    stale = http.post(f"{SCHEDULES}/{sid}/resume", json={"expected_version": 1}, headers=ACME)
    assert (stale.status_code, stale.json()["error"]["code"]) == (409, "version_conflict")
    resumed = http.post(f"{SCHEDULES}/{sid}/resume", json={"expected_version": 2}, headers=ACME)
    assert resumed.status_code == 202
    schedule = read(http, f"{SCHEDULES}/{sid}", resumed.json())
    assert (schedule["enabled"], schedule["definition_version"]) == (True, 3)
    assert schedule["next_tick_at"] is not None


def test_trigger_answers_the_tick_and_its_run_both_readable(client: Client) -> None:
    http, _, clock = client
    sid = create(http)["id"]
    clock.advance(timedelta(minutes=7, seconds=3))
    response = http.post(f"{SCHEDULES}/{sid}/trigger", headers=ACME)
    assert response.status_code == 202, response.text
    tick = response.json()
    epoch = int(clock.now().timestamp())
    assert tick["tick_id"] == tick["id"] == f"{sid}:manual:{epoch}"
    assert tick["status"] == "triggered"
    assert tick["run_key"] == f"sched:{sid}:manual:{epoch}"
    assert tick["run_event_id"] not in (None, tick["accepted_event_id"])
    ticks = read(http, f"{SCHEDULES}/{sid}/ticks", tick)["items"]
    assert [(t["tick_id"], t["manual"], t["run_id"]) for t in ticks] == [
        (tick["tick_id"], True, tick["run_id"])
    ]
    run = read(http, f"{API_PREFIX}/runs/{tick['run_id']}", wait_for_event_id=tick["run_event_id"])
    assert run["run_key"] == tick["run_key"]
    assert run["asset_selection"] == ["raw"]
    assert run["source"]["tick_id"] == tick["tick_id"]
    detail = read(http, f"{SCHEDULES}/{sid}")
    assert detail["state"]["last_manual_tick_id"] == tick["tick_id"]
    # Two triggers within one second are the same tick.
    same = http.post(f"{SCHEDULES}/{sid}/trigger", headers=ACME).json()
    assert (same["tick_id"], same["duplicate"]) == (tick["tick_id"], True)


def test_triggering_a_paused_schedule_still_ticks(client: Client) -> None:
    http, _, _ = client
    sid = create(http, enabled=False)["id"]
    tick = http.post(f"{SCHEDULES}/{sid}/trigger", headers=ACME).json()
    assert tick["status"] == "triggered"
    assert tick["run_id"] is not None


def test_ticks_filter_by_status_and_window_and_paginate(client: Client) -> None:
    http, _, clock = client
    sid = create(http)["id"]
    other = create(http, name="other")["id"]
    tick_ids = []
    for _ in range(3):
        clock.advance(timedelta(minutes=1))
        tick_ids.append(http.post(f"{SCHEDULES}/{sid}/trigger", headers=ACME).json()["tick_id"])
    other_tick = http.post(f"{SCHEDULES}/{other}/trigger", headers=ACME).json()["tick_id"]
    path = f"{SCHEDULES}/{sid}/ticks"
    first = read(http, path, limit=2, fresh="true")
    assert [t["tick_id"] for t in first["items"]] == tick_ids[:0:-1]
    rest = read(http, path, limit=2, cursor=first["next_cursor"])
    assert [t["tick_id"] for t in rest["items"]] == tick_ids[:1]
    assert read(http, path, status="skipped")["items"] == []
    window = read(http, path, since="2024-01-01T00:02:00Z", until="2024-01-01T00:02:00")
    assert [t["tick_id"] for t in window["items"]] == [tick_ids[1]]
    everything = read(http, f"{SCHEDULES}/ticks", status="triggered")
    assert {t["tick_id"] for t in everything["items"]} == {*tick_ids, other_tick}
    bad = http.get(path, params={"status": "exploded"}, headers=ACME)
    assert (bad.status_code, bad.json()["error"]["field"]) == (422, "status")
    assert "skipped" in bad.json()["error"]["allowed"]
    backwards = http.get(
        path,
        params={"since": "2024-01-02T00:00:00Z", "until": "2024-01-01T00:00:00Z"},
        headers=ACME,
    )
    assert (backwards.status_code, backwards.json()["error"]["field"]) == (422, "since")


def test_unknown_schedule_is_404_everywhere(client: Client) -> None:
    http, _, _ = client
    base = f"{SCHEDULES}/nope"
    responses = [
        http.get(base, headers=ACME),
        http.patch(base, json={"name": "x"}, headers=ACME),
        http.post(f"{base}/pause", headers=ACME),
        http.post(f"{base}/resume", headers=ACME),
        http.post(f"{base}/trigger", headers=ACME),
        http.get(f"{base}/ticks", headers=ACME),
    ]
    assert [r.status_code for r in responses] == [404] * 6
    assert {r.json()["error"]["code"] for r in responses} == {"not_found"}


def test_another_tenant_sees_and_changes_nothing(client: Client) -> None:
    http, instance, _ = client
    sid = create(http)["id"]
    tick = http.post(f"{SCHEDULES}/{sid}/trigger", headers=ACME).json()
    head = instance.ledger.head()
    base = f"{SCHEDULES}/{sid}"
    responses = [
        http.get(base, params={"fresh": "true"}, headers=GLOBEX),
        http.patch(base, json={"name": "mine"}, headers=GLOBEX),
        http.post(f"{base}/pause", headers=GLOBEX),
        http.post(f"{base}/resume", headers=GLOBEX),
        http.post(f"{base}/trigger", headers=GLOBEX),
        http.get(f"{base}/ticks", headers=GLOBEX),
        http.get(f"{API_PREFIX}/runs/{tick['run_id']}", headers=GLOBEX),
    ]
    assert [r.status_code for r in responses] == [404] * 7
    assert http.get(SCHEDULES, headers=GLOBEX).json()["items"] == []
    assert http.get(f"{SCHEDULES}/ticks", headers=GLOBEX).json()["items"] == []
    assert instance.ledger.head() == head
    assert read(http, base)["enabled"] is True


def test_openapi_declares_typed_schedule_routes(client: Client) -> None:
    http, _, _ = client
    spec = http.get("/openapi.json").json()
    paths = spec["paths"]
    base = f"{SCHEDULES}/{{schedule_id}}"
    assert {"post", "get"} <= set(paths[SCHEDULES])
    assert {"get", "patch"} <= set(paths[base])
    for action in ("pause", "resume", "trigger"):
        assert "202" in paths[f"{base}/{action}"]["post"]["responses"]
    assert "get" in paths[f"{base}/ticks"]
    assert "get" in paths[f"{SCHEDULES}/ticks"]
    schemas = spec["components"]["schemas"]
    assert {"tick_id", "run_id", "run_event_id"} <= set(schemas["TriggerResponse"]["properties"])
    assert {"cron", "timezone", "asset_selection"} <= set(schemas["ScheduleCreate"]["properties"])
    assert {"next_tick_at", "state", "spec"} <= set(schemas["ScheduleDetail"]["properties"])
    assert "422" in paths[SCHEDULES]["post"]["responses"]
