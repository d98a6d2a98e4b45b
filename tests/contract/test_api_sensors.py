"""Sensors over HTTP on every backend: define, change, pause, cursor, history, evaluate, push."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx2 import Response

from arco.api.app import API_PREFIX
from arco.runtime.instance import Instance
from arco.sdk import Definitions, asset
from arco.sdk.sensor_context import SensorEvaluationContext
from arco.sdk.sensors import RunRequest, SensorResult, SkipReason, push_sensor, sensor
from support.api import ACME, GLOBEX, api_client

SENSORS = f"{API_PREFIX}/sensors"
RUNS = f"{API_PREFIX}/runs"
Json = dict[str, Any]


@asset
def raw() -> None:
    """The asset every sensor here targets."""


@sensor(name="poller", asset_selection=["raw"], minimum_interval_seconds=60)
def poller(context: SensorEvaluationContext) -> SensorResult:
    start = int(context.cursor or 0)
    return SensorResult([RunRequest(f"n-{start}")], cursor=str(start + 1))


@push_sensor(name="files", asset_selection=["raw"])
def files(context: SensorEvaluationContext) -> RunRequest | SkipReason:
    payload = context.message.json() if context.message.data else {}
    if "day" not in payload:
        return SkipReason("no day")
    return RunRequest(tags={"day": payload["day"], **context.message.attributes})


PROJECT = Definitions(assets=[raw], sensors=[poller, files])


@pytest.fixture
def client(db_url: str) -> Iterator[tuple[TestClient, Instance]]:
    with api_client(db_url, definitions=PROJECT) as pair:
        yield pair


def ok(response: Response, status: int = 202) -> Json:
    assert response.status_code == status, response.text
    body: Json = response.json()
    return body


def create(http: TestClient, name: str = "poller", kind: str = "poll", **extra: object) -> str:
    body = {"name": name, "kind": kind, "asset_selection": ["raw"], **extra}
    return str(ok(http.post(SENSORS, json=body, headers=ACME))["id"])


def read(http: TestClient, sensor_id: str, headers: dict[str, str] = ACME) -> Response:
    return http.get(f"{SENSORS}/{sensor_id}", params={"fresh": "true"}, headers=headers)


def pubsub(message_id: str, payload: object = None, **attributes: str) -> Json:
    """A body exactly as a Pub/Sub push subscription sends it (both id spellings)."""
    data = base64.b64encode(json.dumps(payload).encode()).decode() if payload else None
    return {
        "message": {
            "data": data,
            "attributes": attributes,
            "messageId": message_id,
            "message_id": message_id,
            "publishTime": "2024-01-05T10:00:00.123Z",
            "publish_time": "2024-01-05T10:00:00.123Z",
        },
        "subscription": "projects/p/subscriptions/arco-files",
    }


def error(response: Response, status: int) -> Json:
    assert response.status_code == status, response.text
    body: Json = response.json()["error"]
    return body


def run_count(http: TestClient) -> int:
    return len(http.get(RUNS, params={"fresh": "true"}, headers=ACME).json()["items"])


def test_create_then_read_your_write_and_list(client: tuple[TestClient, Instance]) -> None:
    http, _ = client
    accepted = ok(
        http.post(
            SENSORS,
            json={"name": "poller", "kind": "poll", "minimum_interval_seconds": 60},
            headers=ACME,
        )
    )
    sensor_id = str(accepted["id"])
    got = ok(
        http.get(
            f"{SENSORS}/{sensor_id}",
            params={"wait_for_event_id": str(accepted["accepted_event_id"])},
            headers=ACME,
        ),
        200,
    )
    assert got["name"] == "poller"
    assert (got["kind"], got["status"], got["enabled"]) == ("poll", "running", True)
    assert (got["minimum_interval_seconds"], got["definition_version"]) == (60, 1)
    assert (got["cursor"], got["state_version"]) == (None, 0)
    create(http, "files", "push", enabled=False)
    listed = ok(http.get(SENSORS, params={"fresh": "true"}, headers=ACME), 200)
    assert [s["name"] for s in listed["items"]] == ["files", "poller"]
    pushes = ok(http.get(SENSORS, params={"kind": "push"}, headers=ACME), 200)["items"]
    assert [(s["name"], s["status"]) for s in pushes] == [("files", "paused")]
    running = ok(http.get(SENSORS, params={"enabled": "true"}, headers=ACME), 200)["items"]
    assert [s["name"] for s in running] == ["poller"]


def test_list_paginates_with_an_opaque_cursor(client: tuple[TestClient, Instance]) -> None:
    http, _ = client
    for name in ("a", "b", "c"):
        create(http, name)
    first = ok(http.get(SENSORS, params={"limit": 2, "fresh": "true"}, headers=ACME), 200)
    assert [s["name"] for s in first["items"]] == ["a", "b"]
    assert first["next_cursor"]
    rest = ok(
        http.get(SENSORS, params={"limit": 2, "cursor": first["next_cursor"]}, headers=ACME), 200
    )
    assert [s["name"] for s in rest["items"]] == ["c"]
    assert rest["next_cursor"] is None


def test_same_idempotency_key_creates_one_sensor(client: tuple[TestClient, Instance]) -> None:
    http, instance = client
    body = {"name": "poller", "kind": "poll"}
    headers = {**ACME, "Idempotency-Key": "create-1"}
    first = ok(http.post(SENSORS, json=body, headers=headers))
    assert ok(http.post(SENSORS, json=body, headers=headers)) == first
    assert instance.ledger.head() == 1
    again = error(http.post(SENSORS, json=body, headers=ACME), 409)
    assert (again["code"], again["field"]) == ("conflict", "name")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "s", "kind": "cron"}, "kind"),
        ({"name": "s", "kind": "poll", "minimum_interval_seconds": -5}, "minimum_interval_seconds"),
        ({"name": "s", "kind": "poll", "timeout_seconds": 0}, "timeout_seconds"),
        ({"name": "", "kind": "poll"}, "name"),
        ({"kind": "poll"}, "name"),
        ({"name": "s", "kind": "poll", "colour": "red"}, "colour"),
    ],
)
def test_bad_definitions_are_422_with_the_field(
    client: tuple[TestClient, Instance], body: Json, field: str
) -> None:
    http, instance = client
    problem = error(http.post(SENSORS, json=body, headers=ACME), 422)
    assert (problem["code"], problem["field"]) == ("invalid_input", field)
    assert instance.ledger.head() == 0


def test_bad_list_filters_are_422(client: tuple[TestClient, Instance]) -> None:
    http, _ = client
    problem = error(http.get(SENSORS, params={"kind": "cron"}, headers=ACME), 422)
    assert problem["field"] == "kind"
    assert problem["allowed"] == ["poll", "push"]
    assert error(http.get(f"{SENSORS}/nope", headers=ACME), 404)["code"] == "not_found"


def test_patch_changes_only_what_is_sent(client: tuple[TestClient, Instance]) -> None:
    http, _ = client
    sensor_id = create(http, tags={"team": "data"})
    ok(http.patch(f"{SENSORS}/{sensor_id}", json={"minimum_interval_seconds": 120}, headers=ACME))
    got = ok(read(http, sensor_id), 200)
    assert (got["minimum_interval_seconds"], got["definition_version"]) == (120, 2)
    assert (got["name"], got["tags"], got["asset_selection"]) == (
        "poller",
        {"team": "data"},
        ["raw"],
    )
    versioned = {"description": "polls", "expected_definition_version": 2}
    ok(http.patch(f"{SENSORS}/{sensor_id}", json=versioned, headers=ACME))
    assert ok(read(http, sensor_id), 200)["description"] == "polls"


def test_stale_definition_version_is_409(client: tuple[TestClient, Instance]) -> None:
    http, instance = client
    sensor_id = create(http)
    ok(http.patch(f"{SENSORS}/{sensor_id}", json={"description": "one"}, headers=ACME))
    head = instance.ledger.head()
    stale = {"description": "two", "expected_definition_version": 1}
    problem = error(http.patch(f"{SENSORS}/{sensor_id}", json=stale, headers=ACME), 409)
    assert (problem["code"], problem["field"]) == (
        "version_conflict",
        "expected_definition_version",
    )
    assert problem["details"] == {"current_definition_version": 2}
    assert instance.ledger.head() == head


def test_patch_cannot_change_kind_or_send_nothing(client: tuple[TestClient, Instance]) -> None:
    http, _ = client
    sensor_id = create(http)
    kind = error(http.patch(f"{SENSORS}/{sensor_id}", json={"kind": "push"}, headers=ACME), 422)
    assert (kind["field"], kind["allowed"]) == ("kind", ["poll"])
    assert (
        error(http.patch(f"{SENSORS}/{sensor_id}", json={}, headers=ACME), 422)["field"] == "body"
    )
    null_name = error(http.patch(f"{SENSORS}/{sensor_id}", json={"name": None}, headers=ACME), 422)
    assert null_name["field"] == "name"
    bad = error(
        http.patch(f"{SENSORS}/{sensor_id}", json={"minimum_interval_seconds": 0}, headers=ACME),
        422,
    )
    assert bad["field"] == "minimum_interval_seconds"


def test_pause_and_resume(client: tuple[TestClient, Instance]) -> None:
    http, _ = client
    sensor_id = create(http)
    ok(http.post(f"{SENSORS}/{sensor_id}/pause", headers=ACME))
    assert ok(read(http, sensor_id), 200)["status"] == "paused"
    again = error(http.post(f"{SENSORS}/{sensor_id}/pause", headers=ACME), 409)
    assert (again["code"], again["value"]) == ("illegal_transition", "paused")
    paused = ok(http.get(SENSORS, params={"enabled": "false"}, headers=ACME), 200)["items"]
    assert [s["sensor_id"] for s in paused] == [sensor_id]
    ok(http.post(f"{SENSORS}/{sensor_id}/resume", headers=ACME))
    got = ok(read(http, sensor_id), 200)
    assert (got["status"], got["enabled"], got["definition_version"]) == ("running", True, 3)
    assert error(http.post(f"{SENSORS}/{sensor_id}/resume", headers=ACME), 409)["code"] == (
        "illegal_transition"
    )


def test_reset_cursor_with_and_without_expected_version(
    client: tuple[TestClient, Instance],
) -> None:
    http, instance = client
    sensor_id = create(http)
    reset = f"{SENSORS}/{sensor_id}/reset-cursor"
    ok(http.post(reset, json={"cursor": "41", "expected_state_version": 0}, headers=ACME))
    got = ok(read(http, sensor_id), 200)
    assert (got["cursor"], got["state_version"]) == ("41", 1)
    head = instance.ledger.head()
    stale = error(
        http.post(reset, json={"cursor": "0", "expected_state_version": 0}, headers=ACME), 409
    )
    assert (stale["code"], stale["field"]) == ("version_conflict", "expected_state_version")
    assert stale["details"] == {"current_state_version": 1, "cursor": "41"}
    assert instance.ledger.head() == head
    ok(http.post(reset, json={}, headers=ACME))
    assert ok(read(http, sensor_id), 200)["cursor"] is None
    push_id = create(http, "files", "push")
    problem = error(http.post(f"{SENSORS}/{push_id}/reset-cursor", json={}, headers=ACME), 422)
    assert (problem["field"], problem["allowed"]) == ("kind", ["poll"])


def test_evaluate_dry_run_appends_nothing(client: tuple[TestClient, Instance]) -> None:
    http, instance = client
    sensor_id = create(http)
    read(http, sensor_id)
    head = instance.ledger.head()
    answer = ok(http.post(f"{SENSORS}/{sensor_id}/evaluate", json={}, headers=ACME), 200)
    assert (answer["dry_run"], answer["appended"], answer["accepted_event_id"]) == (
        True,
        False,
        None,
    )
    assert (answer["status"], answer["cursor_before"], answer["cursor_after"]) == ("ok", None, "1")
    assert [r["run_key"] for r in answer["run_requests"]] == ["n-0"]
    from_cursor = ok(
        http.post(f"{SENSORS}/{sensor_id}/evaluate", json={"cursor": "7"}, headers=ACME), 200
    )
    assert [r["run_key"] for r in from_cursor["run_requests"]] == ["n-7"]
    assert instance.ledger.head() == head
    assert ok(read(http, sensor_id), 200)["cursor"] is None
    assert run_count(http) == 0


def test_evaluate_for_real_records_it_and_its_runs(client: tuple[TestClient, Instance]) -> None:
    http, instance = client
    sensor_id = create(http)
    answer = ok(http.post(f"{SENSORS}/{sensor_id}/evaluate", json={"dry_run": False}, headers=ACME))
    assert (answer["appended"], answer["dry_run"], answer["status"]) == (True, False, "ok")
    assert answer["accepted_event_id"]
    got = http.get(
        f"{SENSORS}/{sensor_id}",
        params={"wait_for_event_id": str(answer["accepted_event_id"])},
        headers=ACME,
    ).json()
    assert (got["cursor"], got["state_version"], got["last_eval_status"]) == ("1", 1, "ok")
    assert run_count(http) == 1
    evals = ok(http.get(f"{SENSORS}/{sensor_id}/evals", headers=ACME), 200)["items"]
    assert [(e["eval_id"], e["run_keys"]) for e in evals] == [(answer["eval_id"], ["n-0"])]
    assert instance.ledger.head() > 0


def test_evaluate_errors(client: tuple[TestClient, Instance]) -> None:
    http, _ = client
    poll_id, push_id = create(http), create(http, "files", "push")
    no_sample = error(http.post(f"{SENSORS}/{push_id}/evaluate", json={}, headers=ACME), 422)
    assert no_sample["field"] == "sample_payload"
    sample = {"sample_payload": {"data": "not base64!"}}
    bad_data = error(http.post(f"{SENSORS}/{push_id}/evaluate", json=sample, headers=ACME), 422)
    assert bad_data["field"] == "message.data"
    moved = {"dry_run": False, "cursor": "99"}
    cursor = error(http.post(f"{SENSORS}/{poll_id}/evaluate", json=moved, headers=ACME), 422)
    assert cursor["field"] == "cursor"
    ok(http.post(f"{SENSORS}/{poll_id}/pause", headers=ACME))
    paused = error(
        http.post(f"{SENSORS}/{poll_id}/evaluate", json={"dry_run": False}, headers=ACME), 409
    )
    assert paused["code"] == "illegal_transition"


def test_evaluate_a_push_sensor_with_a_sample(client: tuple[TestClient, Instance]) -> None:
    http, instance = client
    push_id = create(http, "files", "push")
    read(http, push_id)
    head = instance.ledger.head()
    payload = base64.b64encode(b'{"day": "2024-01-05"}').decode()
    body = {"sample_payload": {"data": payload, "attributes": {"src": "test"}}}
    answer = ok(http.post(f"{SENSORS}/{push_id}/evaluate", json=body, headers=ACME), 200)
    (run,) = answer["run_requests"]
    assert run["tags"] == {"day": "2024-01-05", "src": "test"}
    assert str(answer["eval_id"]).startswith(f"{push_id}:msg:manual-")
    assert instance.ledger.head() == head


def test_recorded_evaluate_retried_with_its_key_runs_once(
    client: tuple[TestClient, Instance],
) -> None:
    http, instance = client
    push_id = create(http, "files", "push")
    payload = base64.b64encode(b'{"day": "2024-01-06"}').decode()
    body = {"dry_run": False, "sample_payload": {"data": payload}}
    headers = {**ACME, "Idempotency-Key": "eval-1"}
    first = ok(http.post(f"{SENSORS}/{push_id}/evaluate", json=body, headers=headers))
    assert (first["appended"], first["dry_run"]) == (True, False)
    head = instance.ledger.head()
    assert ok(http.post(f"{SENSORS}/{push_id}/evaluate", json=body, headers=headers)) == first
    assert instance.ledger.head() == head
    assert run_count(http) == 1


def test_push_redelivery_creates_one_run(client: tuple[TestClient, Instance]) -> None:
    http, _ = client
    push_id = create(http, "files", "push")
    first = ok(
        http.post(
            f"{SENSORS}/{push_id}/push", json=pubsub("m-1", {"day": "2024-01-05"}), headers=ACME
        )
    )
    assert (first["status"], first["appended"], first["duplicate"]) == ("ok", True, False)
    (run,) = first["run_requests"]
    assert run["run_key"] == f"sensor:{push_id}:msg:m-1"
    again = ok(
        http.post(
            f"{SENSORS}/{push_id}/push", json=pubsub("m-1", {"day": "2024-01-05"}), headers=ACME
        )
    )
    assert (again["duplicate"], again["appended"]) == (True, False)
    assert again["accepted_event_id"] == first["accepted_event_id"]
    assert run_count(http) == 1
    evals = ok(http.get(f"{SENSORS}/{push_id}/evals", params={"fresh": "true"}, headers=ACME), 200)
    assert [e["message_id"] for e in evals["items"]] == ["m-1"]


def test_push_snake_case_message_and_skips(client: tuple[TestClient, Instance]) -> None:
    http, _ = client
    push_id = create(http, "files", "push")
    body = {"message": {"message_id": "m-2", "attributes": {"k": "v"}}}
    answer = ok(http.post(f"{SENSORS}/{push_id}/push", json=body, headers=ACME))
    assert (answer["status"], answer["skip_reason"], answer["run_requests"]) == (
        "skipped",
        "no day",
        [],
    )
    skipped = ok(
        http.get(
            f"{SENSORS}/{push_id}/evals",
            params={"status": "skipped", "fresh": "true"},
            headers=ACME,
        ),
        200,
    )
    assert len(skipped["items"]) == 1
    errors = ok(
        http.get(f"{SENSORS}/{push_id}/evals", params={"status": "error"}, headers=ACME), 200
    )
    assert errors["items"] == []


@pytest.mark.parametrize(
    ("message", "field"),
    [
        ({"data": "e30="}, "message.messageId"),
        ({"messageId": "", "data": "e30="}, "message.messageId"),
        ({"messageId": "m", "data": "%%% not base64"}, "message.data"),
        ({"messageId": "m", "publishTime": "yesterday"}, "message.publish_time"),
    ],
)
def test_bad_push_messages_are_422(
    client: tuple[TestClient, Instance], message: Json, field: str
) -> None:
    http, instance = client
    push_id = create(http, "files", "push")
    head = instance.ledger.head()
    problem = error(
        http.post(f"{SENSORS}/{push_id}/push", json={"message": message}, headers=ACME), 422
    )
    assert problem["field"] == field
    assert instance.ledger.head() == head


def test_push_to_a_poll_sensor_is_422(client: tuple[TestClient, Instance]) -> None:
    http, _ = client
    poll_id = create(http)
    problem = error(http.post(f"{SENSORS}/{poll_id}/push", json=pubsub("m"), headers=ACME), 422)
    assert (problem["field"], problem["allowed"]) == ("kind", ["push"])


def test_evals_time_window_and_bad_filters(client: tuple[TestClient, Instance]) -> None:
    http, _ = client
    push_id = create(http, "files", "push")
    ok(http.post(f"{SENSORS}/{push_id}/push", json=pubsub("m-1"), headers=ACME))
    evals = f"{SENSORS}/{push_id}/evals"
    future = {"since": "2999-01-01T00:00:00Z", "fresh": "true"}
    assert ok(http.get(evals, params=future, headers=ACME), 200)["items"] == []
    past = {"since": "2000-01-01T00:00:00Z", "until": "2999-01-01T00:00:00Z"}
    assert len(ok(http.get(evals, params=past, headers=ACME), 200)["items"]) == 1
    assert (
        error(http.get(evals, params={"status": "exploded"}, headers=ACME), 422)["field"]
        == "status"
    )
    backwards = {"since": "2999-01-01T00:00:00Z", "until": "2000-01-01T00:00:00Z"}
    assert error(http.get(evals, params=backwards, headers=ACME), 422)["field"] == "since"
    assert error(http.get(f"{SENSORS}/nope/evals", headers=ACME), 404)["field"] == "sensor_id"


def test_without_a_project_evaluate_and_push_are_409(db_url: str) -> None:
    with api_client(db_url) as (http, instance):
        push_id = create(http, "files", "push")
        head = instance.ledger.head()
        for path, body in (("push", pubsub("m-1")), ("evaluate", {"sample_payload": {}})):
            problem = error(http.post(f"{SENSORS}/{push_id}/{path}", json=body, headers=ACME), 409)
            assert problem["details"] == {"sensor": "files", "reason": "no_project_loaded"}
        assert instance.ledger.head() == head


def test_a_sensor_without_code_in_the_project_is_409(client: tuple[TestClient, Instance]) -> None:
    http, _ = client
    orphan = create(http, "orphan", "push")
    problem = error(http.post(f"{SENSORS}/{orphan}/push", json=pubsub("m"), headers=ACME), 409)
    assert (problem["field"], problem["value"]) == ("name", "orphan")
    assert problem["allowed"] == ["files", "poller"]


def test_another_tenant_can_neither_read_nor_change_it(client: tuple[TestClient, Instance]) -> None:
    http, instance = client
    poll_id, push_id = create(http), create(http, "files", "push")
    assert read(http, poll_id, GLOBEX).status_code == 404
    assert http.get(SENSORS, params={"fresh": "true"}, headers=GLOBEX).json()["items"] == []
    head = instance.ledger.head()
    attempts = [
        http.patch(f"{SENSORS}/{poll_id}", json={"description": "mine"}, headers=GLOBEX),
        http.post(f"{SENSORS}/{poll_id}/pause", headers=GLOBEX),
        http.post(f"{SENSORS}/{poll_id}/resume", headers=GLOBEX),
        http.post(f"{SENSORS}/{poll_id}/reset-cursor", json={"cursor": "x"}, headers=GLOBEX),
        http.get(f"{SENSORS}/{poll_id}/evals", headers=GLOBEX),
        http.post(f"{SENSORS}/{poll_id}/evaluate", json={"dry_run": False}, headers=GLOBEX),
        http.post(f"{SENSORS}/{push_id}/push", json=pubsub("m-1", {"day": "d"}), headers=GLOBEX),
    ]
    assert [a.status_code for a in attempts] == [404] * len(attempts)
    assert all(a.json()["error"]["field"] == "sensor_id" for a in attempts)
    assert instance.ledger.head() == head
    mine = ok(read(http, poll_id), 200)
    assert (mine["description"], mine["status"], mine["cursor"]) == (None, "running", None)
    # Globex may reuse the name: names are unique per workspace, not across tenants.
    ok(http.post(SENSORS, json={"name": "poller", "kind": "poll"}, headers=GLOBEX))


def test_no_token_is_401(client: tuple[TestClient, Instance]) -> None:
    http, _ = client
    assert error(http.get(SENSORS), 401)["code"] == "unauthenticated"


def test_openapi_declares_the_sensor_contract(client: tuple[TestClient, Instance]) -> None:
    http, _ = client
    spec = http.get("/openapi.json").json()
    paths = spec["paths"]
    assert set(paths[f"{SENSORS}/{{sensor_id}}"]) == {"get", "patch"}
    for action in ("pause", "resume", "reset-cursor", "evaluate", "push"):
        assert "post" in paths[f"{SENSORS}/{{sensor_id}}/{action}"]
    schemas = spec["components"]["schemas"]
    assert {"sensor_id", "cursor", "state_version"} <= set(schemas["SensorOut"]["properties"])
    assert schemas["SensorCreate"]["properties"]["kind"]["enum"] == ["poll", "push"]
    assert "messageId" in schemas["PubSubMessage"]["properties"]
    assert "422" in paths[f"{SENSORS}/{{sensor_id}}/push"]["post"]["responses"]
