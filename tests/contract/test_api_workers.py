"""The worker contract over HTTP on every backend: poll, claim (exactly one winner per
attempt, also under a race), heartbeat, report; tenants never touch each other's tasks."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient

from arco.api.app import API_PREFIX
from arco.events import DispatchRequested, OrchestrationEvent, PlanCreated, TaskFinished
from arco.events.execution import RetryPolicy, TaskError
from arco.runtime.instance import Instance
from support.api import ACME, GLOBEX, api_client
from support.execution import spec
from support.factories import envelope, run_requested

WORKERS = f"{API_PREFIX}/workers"
RUNS = f"{API_PREFIX}/runs"


class Api:
    def __init__(self, http: TestClient, instance: Instance) -> None:
        self.http, self.instance = http, instance

    def dispatch(
        self, run_key: str, keys: tuple[str, ...] = ("2024-01-01",), *, retries: int = 0
    ) -> list[dict[str, Any]]:
        """A running run of ``raw`` over ``keys``, each task's attempt 1 dispatched."""
        request = run_requested(run_key)
        run_id = request.run_id
        tasks = tuple(spec("raw", key, policy=RetryPolicy(max_retries=retries)) for key in keys)
        dispatches = [
            DispatchRequested(
                run_id=run_id,
                task_key=t.task_key,
                attempt=1,
                attempt_id=f"{t.task_key}@{run_key}:1",
            )
            for t in tasks
        ]
        self.append([request, PlanCreated(run_id=run_id, tasks=tasks), *dispatches])
        return [
            {"run_id": run_id, "task_key": d.task_key, "attempt": 1, "attempt_id": d.attempt_id}
            for d in dispatches
        ]

    def append(self, payloads: list[Any]) -> str:
        events: list[OrchestrationEvent] = [envelope(p) for p in payloads]
        self.instance.ledger.append(events)
        return events[-1].event_id

    def post(self, path: str, body: dict[str, Any], expect: int = 202, headers: Any = None) -> Any:
        response = self.http.post(f"{WORKERS}{path}", json=body, headers=headers or ACME)
        assert response.status_code == expect, response.text
        return response.json()

    def claim(self, attempt: dict[str, Any], worker: str, expect: int = 202) -> Any:
        return self.post("/claims", {**attempt, "worker_id": worker}, expect)

    def task(self, attempt: dict[str, Any], event_id: str | None = None) -> dict[str, Any]:
        params = {"wait_for_event_id": event_id} if event_id else {"fresh": "true"}
        tasks = self.http.get(f"{RUNS}/{attempt['run_id']}/tasks", params=params, headers=ACME)
        assert tasks.status_code == 200, tasks.text
        found: dict[str, Any] = next(
            t for t in tasks.json()["items"] if t["task_key"] == attempt["task_key"]
        )
        return found


def result(ref: dict[str, Any], outcome: str = "succeeded", **fields: Any) -> dict[str, Any]:
    return {
        **ref,
        "outcome": outcome,
        "asset_key": "raw",
        "partition_key": ref["task_key"][len("raw[") : -1],
        "code_version": "v1",
        **fields,
    }


@pytest.fixture
def api(db_url: str) -> Iterator[Api]:
    with api_client(db_url) as (http, instance):
        yield Api(http, instance)


def test_dispatched_attempts_are_listed_oldest_ready_first(api: Api) -> None:
    attempts = api.dispatch("r1", ("2024-01-01", "2024-01-02"))
    listed = api.http.get(f"{WORKERS}/tasks", params={"fresh": "true", "limit": 1}, headers=ACME)
    assert listed.status_code == 200, listed.text
    page = listed.json()
    first = page["items"][0]
    assert {k: first[k] for k in attempts[0]} == attempts[0]
    assert (first["asset_key"], first["partition_key"], first["state"]) == (
        "raw",
        "2024-01-01",
        "dispatched",
    )
    assert first["code_version"] == "v1"
    rest = api.http.get(
        f"{WORKERS}/tasks", params={"cursor": page["next_cursor"]}, headers=ACME
    ).json()
    assert [t["attempt_id"] for t in rest["items"]] == [attempts[1]["attempt_id"]]
    other = api.http.get(f"{WORKERS}/tasks", params={"asset_key": "clean"}, headers=ACME)
    assert other.json()["items"] == []
    bad = api.http.get(f"{WORKERS}/tasks", params={"state": "exploded"}, headers=ACME)
    assert (bad.status_code, bad.json()["error"]["field"]) == (422, "state")


def test_a_claim_is_won_once_and_a_retried_claim_still_holds(api: Api) -> None:
    [attempt] = api.dispatch("r1")
    won = api.claim(attempt, "w1")
    assert (won["claimed"], won["holder_worker_id"], won["duplicate"]) == (True, "w1", False)
    assert won["id"] == attempt["attempt_id"]
    task = api.task(attempt, won["accepted_event_id"])
    assert (task["state"], task["worker_id"]) == ("running", "w1")
    lost = api.claim(attempt, "w2")
    assert (lost["claimed"], lost["holder_worker_id"], lost["duplicate"]) == (False, "w1", True)
    assert lost["accepted_event_id"] == won["accepted_event_id"]
    retried = api.claim(attempt, "w1")
    assert (retried["claimed"], retried["duplicate"]) == (True, True)
    running = api.http.get(f"{WORKERS}/tasks", params={"state": "running"}, headers=ACME).json()
    assert [t["worker_id"] for t in running["items"]] == ["w1"]
    assert api.http.get(f"{WORKERS}/tasks", headers=ACME).json()["items"] == []


def test_racing_claims_of_one_attempt_have_exactly_one_winner(api: Api) -> None:
    attempts = api.dispatch("race", ("2024-01-01", "2024-01-02", "2024-01-03"))
    for attempt in attempts:
        start = threading.Barrier(6)

        def claim(worker: str, attempt: dict[str, Any] = attempt, start: Any = start) -> Any:
            start.wait()
            return api.claim(attempt, worker)

        with ThreadPoolExecutor(6) as pool:
            answers = list(pool.map(claim, [f"w{i}" for i in range(6)]))
        winners = [a for a in answers if a["claimed"]]
        assert len(winners) == 1, answers
        assert {a["holder_worker_id"] for a in answers} == {winners[0]["holder_worker_id"]}
        assert api.task(attempt)["worker_id"] == winners[0]["holder_worker_id"]


def test_claims_of_stale_unknown_or_finished_attempts_are_refused(api: Api) -> None:
    [attempt] = api.dispatch("r1", retries=1)
    missing = api.claim({**attempt, "task_key": "raw[2030-01-01]"}, "w1", expect=404)
    assert missing["error"]["field"] == "task_key"
    stale = api.claim({**attempt, "attempt_id": "old"}, "w1", expect=409)["error"]
    assert (stale["field"], stale["details"]["reason"]) == ("attempt_id", "attempt_superseded")
    assert stale["details"]["current_attempt_id"] == attempt["attempt_id"]
    number = api.claim({**attempt, "attempt": 3}, "w1", expect=422)["error"]
    assert (number["field"], number["allowed"]) == ("attempt", ["1"])
    assert api.claim(attempt, "w1")["claimed"] is True
    finished = api.post("/results", result(attempt, worker_id="w1"))
    api.task(attempt, finished["accepted_event_id"])
    done = api.claim(attempt, "w2", expect=409)["error"]
    assert (done["details"]["reason"], done["details"]["current_state"]) == (
        "not_claimable",
        "succeeded",
    )


def test_heartbeats_keep_the_attempt_and_say_when_to_stop(api: Api) -> None:
    [attempt] = api.dispatch("r1")
    api.claim(attempt, "w1")
    beat = api.post("/heartbeats", {**attempt, "sequence": 1, "worker_id": "w1"})
    assert (beat["stop"], beat["stop_reason"], beat["duplicate"]) == (False, None, False)
    assert api.task(attempt, beat["accepted_event_id"])["state"] == "running"
    again = api.post("/heartbeats", {**attempt, "sequence": 1})
    assert again["duplicate"] is True
    thief = api.post("/heartbeats", {**attempt, "sequence": 2, "worker_id": "w2"}, 409)["error"]
    assert (thief["field"], thief["details"]["reason"]) == ("worker_id", "not_lease_holder")
    assert thief["details"]["holder_worker_id"] == "w1"
    cancel = api.http.post(f"{RUNS}/{attempt['run_id']}/cancel", headers=ACME)
    assert cancel.status_code == 202
    api.task(attempt, cancel.json()["accepted_event_id"])
    told = api.post("/heartbeats", {**attempt, "sequence": 3})
    assert told["stop"] is True
    assert "cancel" in told["stop_reason"]
    unknown = api.post("/heartbeats", {**attempt, "attempt_id": "nope", "sequence": 4}, 404)
    assert unknown["error"]["field"] == "attempt_id"


def test_results_are_validated_recorded_once_and_late_ones_are_marked(api: Api) -> None:
    [attempt] = api.dispatch("r1", retries=1)
    api.claim(attempt, "w1")
    for body, field in (
        (result(attempt, "exploded"), "outcome"),
        (result(attempt, asset_key="clean"), "asset_key"),
        (result(attempt, partition_key="2024-02-02"), "partition_key"),
        (result(attempt, attempt=2), "attempt"),
        (result(attempt, error={"kind": "x"}), "error.message"),
    ):
        error = api.post("/results", body, 422)["error"]
        assert error["field"] == field, error
    assert (
        api.post("/results", result(attempt, worker_id="w9"), 409)["error"]["details"]["reason"]
        == "not_lease_holder"
    )
    failure = result(attempt, "failed", error={"kind": "ValueError", "message": "bad row"})
    first = api.post("/results", failure)
    assert (first["duplicate"], first["late"]) == (False, False)
    repeated = api.post("/results", failure)
    assert (repeated["duplicate"], repeated["late"]) == (True, False)
    assert repeated["accepted_event_id"] == first["accepted_event_id"]
    task = api.task(attempt, first["accepted_event_id"])
    assert task["state"] == "retry_wait"
    assert task["error"]["message"] == "bad row"
    # The engine dispatches attempt 2; a (different) report of attempt 1 is only history.
    second = {**attempt, "attempt": 2, "attempt_id": attempt["attempt_id"][:-1] + "2"}
    api.append(
        [DispatchRequested(run_id=attempt["run_id"], task_key=attempt["task_key"], **_n(second))]
    )
    assert api.claim(second, "w2")["claimed"] is True
    late = api.post("/results", result(attempt, "cancelled"))
    assert (late["duplicate"], late["late"], late["recorded_outcome"]) == (True, True, "failed")
    assert late["accepted_event_id"] == first["accepted_event_id"]
    done = api.post("/results", result(second, worker_id="w2", metadata={"rows": 3}))
    assert done["late"] is False
    task = api.task(second, done["accepted_event_id"])
    assert (task["state"], task["attempt"]) == ("succeeded", 2)
    run = api.http.get(f"{RUNS}/{attempt['run_id']}", params={"fresh": "true"}, headers=ACME)
    assert run.json()["state"] == "succeeded"


def _n(attempt: dict[str, Any]) -> dict[str, Any]:
    return {"attempt": attempt["attempt"], "attempt_id": attempt["attempt_id"]}


def test_reports_that_did_not_decide_the_task_are_late(api: Api) -> None:
    abandoned, timed_out = api.dispatch("r1", ("2024-01-01", "2024-01-02"))
    # Nobody claimed attempt 1 in time: the engine dispatched attempt 2 instead.
    second = {**abandoned, "attempt": 2, "attempt_id": abandoned["attempt_id"][:-1] + "2"}
    redispatch = DispatchRequested(
        run_id=abandoned["run_id"], task_key=abandoned["task_key"], **_n(second)
    )
    api.task(abandoned, api.append([redispatch]))
    late = api.post("/results", result(abandoned))
    assert (late["duplicate"], late["late"]) == (False, True)
    assert api.task(abandoned, late["accepted_event_id"])["state"] == "dispatched"
    # The engine failed a silent attempt (heartbeat timeout) before its worker reported.
    assert api.claim(timed_out, "w1")["claimed"] is True
    engine = TaskFinished(
        **{k: timed_out[k] for k in ("run_id", "task_key", "attempt", "attempt_id")},
        outcome="failed",
        asset_key="raw",
        partition_key="2024-01-02",
        error=TaskError(kind="heartbeat_timeout", message="no heartbeat"),
    )
    api.append([engine])
    report = api.post("/results", result(timed_out, worker_id="w1"))
    assert (report["duplicate"], report["late"], report["recorded_outcome"]) == (
        True,
        True,
        "failed",
    )


def test_another_tenant_can_neither_see_nor_claim_nor_report(api: Api) -> None:
    [attempt] = api.dispatch("r1")
    theirs = api.http.get(f"{WORKERS}/tasks", params={"fresh": "true"}, headers=GLOBEX)
    assert theirs.json()["items"] == []
    assert api.claim(attempt, "w1")["claimed"] is True
    for path, body in (
        ("/claims", {**attempt, "worker_id": "spy"}),
        ("/heartbeats", {**attempt, "sequence": 1}),
        ("/results", result(attempt)),
    ):
        assert api.post(path, body, 404, headers=GLOBEX)["error"]["code"] == "not_found"
    assert api.task(attempt)["state"] == "running"


def test_openapi_documents_the_worker_contract(api: Api) -> None:
    spec_doc = api.http.get("/openapi.json").json()
    paths = spec_doc["paths"]
    assert "get" in paths[f"{WORKERS}/tasks"]
    for path in ("/claims", "/heartbeats", "/results"):
        assert "202" in paths[f"{WORKERS}{path}"]["post"]["responses"], path
    outcome = spec_doc["components"]["schemas"]["ResultRequest"]["properties"]["outcome"]
    assert set(outcome["enum"]) == {"succeeded", "failed", "cancelled"}
