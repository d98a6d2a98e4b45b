"""GET /runs/{id}/logs: an attempt's compute log, only for the run's own tenant."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from arco.api.app import API_PREFIX
from arco.api.state import ApiState
from arco.runtime.compute_logs import attempt_dir
from support.api import ACME, GLOBEX, api_client

RUNS = f"{API_PREFIX}/runs"


@pytest.fixture
def client(db_url: str) -> Iterator[TestClient]:
    with api_client(db_url) as (http, _instance):
        yield http


def request_run(http: TestClient) -> str:
    response = http.post(RUNS, json={"asset_selection": ["raw"]}, headers=ACME)
    assert response.status_code == 202, response.text
    run_id = str(response.json()["id"])
    assert http.get(f"{RUNS}/{run_id}", params={"fresh": "true"}, headers=ACME).status_code == 200
    return run_id


def write_log(logs_dir: Path, run_id: str, attempt: int, stdout: str, stderr: str = "") -> None:
    directory = attempt_dir(logs_dir, run_id, "raw", attempt)
    directory.mkdir(parents=True)
    (directory / "stdout.log").write_text(stdout)
    (directory / "stderr.log").write_text(stderr)


def configure(http: TestClient, logs_dir: Path) -> None:
    state: ApiState = http.app.state.arco  # type: ignore[attr-defined]
    state.compute_logs_dir = logs_dir


def test_without_a_log_directory_the_answer_is_a_clear_404(client: TestClient) -> None:
    run_id = request_run(client)
    response = client.get(f"{RUNS}/{run_id}/logs", params={"task_key": "raw"}, headers=ACME)
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "not_found"
    assert "no compute log directory" in error["message"]
    assert error["details"]["reason"] == "no_compute_logs_dir"


def test_latest_attempt_by_default_and_any_attempt_by_number(
    client: TestClient, tmp_path: Path
) -> None:
    run_id = request_run(client)
    configure(client, tmp_path)
    write_log(tmp_path, run_id, 1, "first try\n", "boom\n")
    write_log(tmp_path, run_id, 2, "second try\n", "INFO done\n")
    latest = client.get(f"{RUNS}/{run_id}/logs", params={"task_key": "raw"}, headers=ACME)
    assert latest.status_code == 200, latest.text
    body = latest.json()
    assert (body["attempt"], body["attempts"]) == (2, [1, 2])
    assert (body["stdout"]["text"], body["stderr"]["text"]) == ("second try\n", "INFO done\n")
    first = client.get(
        f"{RUNS}/{run_id}/logs", params={"task_key": "raw", "attempt": 1}, headers=ACME
    ).json()
    assert (first["stdout"]["text"], first["stderr"]["text"]) == ("first try\n", "boom\n")


def test_reading_on_from_an_offset(client: TestClient, tmp_path: Path) -> None:
    run_id = request_run(client)
    configure(client, tmp_path)
    write_log(tmp_path, run_id, 1, "0123456789")
    params: dict[str, str | int] = {"task_key": "raw", "max_bytes": 4}
    page = client.get(f"{RUNS}/{run_id}/logs", params=params, headers=ACME).json()["stdout"]
    assert (page["text"], page["next_offset"], page["size"]) == ("0123", 4, 10)
    params["stdout_offset"] = page["next_offset"]
    more = client.get(f"{RUNS}/{run_id}/logs", params=params, headers=ACME).json()["stdout"]
    assert (more["text"], more["offset"]) == ("4567", 4)


def test_missing_task_attempt_or_run_is_404(client: TestClient, tmp_path: Path) -> None:
    run_id = request_run(client)
    configure(client, tmp_path)
    write_log(tmp_path, run_id, 1, "hello\n")
    cases: list[tuple[str, dict[str, str | int]]] = [
        (f"{RUNS}/{run_id}/logs", {"task_key": "other"}),
        (f"{RUNS}/{run_id}/logs", {"task_key": "raw", "attempt": 3}),
        (f"{RUNS}/run_nope/logs", {"task_key": "raw"}),
    ]
    for path, params in cases:
        response = client.get(path, params=params, headers=ACME)
        assert response.status_code == 404, (path, params)
    missing_key = client.get(f"{RUNS}/{run_id}/logs", headers=ACME)
    assert (missing_key.status_code, missing_key.json()["error"]["field"]) == (
        422,
        "task_key",
    )


def test_another_tenant_cannot_read_the_log(client: TestClient, tmp_path: Path) -> None:
    run_id = request_run(client)
    configure(client, tmp_path)
    write_log(tmp_path, run_id, 1, "secret numbers\n")
    response = client.get(f"{RUNS}/{run_id}/logs", params={"task_key": "raw"}, headers=GLOBEX)
    assert response.status_code == 404
    assert "secret" not in response.text
