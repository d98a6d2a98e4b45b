"""Every route family over real HTTP against a real ``arco serve`` process.

The contract tests drive the same routes in-process on both backends; this
checks what only a real server shows: the process starts from the CLI, loads the
project, speaks HTTP on an ephemeral port, and keeps tenants apart.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from support.server import OTHER_TENANT_TOKEN, running_server

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
PROJECT = ROOT / "examples" / "quickstart" / "definitions.py"
API = "/api/v1/orchestration"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[httpx.Client, httpx.Client]]:
    with running_server(tmp_path_factory.mktemp("server"), PROJECT) as (url, token):
        acme = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        globex = httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {OTHER_TENANT_TOKEN}"}, timeout=30
        )
        with acme, globex:
            yield acme, globex


def accepted(response: httpx.Response) -> dict[str, object]:
    assert response.status_code == 202, response.text
    body: dict[str, object] = response.json()
    assert isinstance(body["accepted_event_id"], str)
    return body


def read(client: httpx.Client, path: str, event: dict[str, object]) -> dict[str, object]:
    """GET after the write is folded (read-your-writes)."""
    response = client.get(f"{API}{path}", params={"wait_for_event_id": event["accepted_event_id"]})
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def test_health_readiness_metrics_and_openapi(server: tuple[httpx.Client, httpx.Client]) -> None:
    acme, _ = server
    assert acme.get("/healthz").json() == {"status": "ok"}
    assert acme.get("/readyz").json()["ready"] is True
    assert "arco_api_request_seconds" in acme.get("/metrics").text
    paths = acme.get("/openapi.json").json()["paths"]
    for family in (
        "runs",
        "schedules",
        "sensors",
        "backfills",
        "partitions",
        "assets",
        "conflicts",
        "events",
        "workers",
    ):
        assert any(path.startswith(f"{API}/{family}") for path in paths), family


def test_runs_events_and_conflicts(server: tuple[httpx.Client, httpx.Client]) -> None:
    acme, globex = server
    event = accepted(
        acme.post(
            f"{API}/runs",
            json={"asset_selection": ["raw_events"], "partition_keys": ["2024-01-02"]},
        )
    )
    run = read(acme, f"/runs/{event['id']}", event)
    assert run["state"] == "queued"
    assert acme.get(f"{API}/runs/{event['id']}/tasks").status_code == 200
    events = acme.get(f"{API}/events", params={"event_type": "RunRequested"}).json()["items"]
    assert any(e["correlation_id"] == event["id"] for e in events)
    assert acme.get(f"{API}/conflicts").json()["items"] == []
    assert globex.get(f"{API}/runs/{event['id']}").status_code == 404
    assert globex.post(f"{API}/runs/{event['id']}/cancel").status_code == 404
    assert globex.get(f"{API}/events").json()["items"] == []


def test_schedules(server: tuple[httpx.Client, httpx.Client]) -> None:
    acme, globex = server
    body = {
        "name": "nightly",
        "cron": "30 2 * * *",
        "timezone": "America/New_York",
        "asset_selection": ["raw_events"],
    }
    created = accepted(acme.post(f"{API}/schedules", json=body))
    schedule = read(acme, f"/schedules/{created['id']}", created)
    assert schedule["name"] == "nightly"
    bad = acme.post(f"{API}/schedules", json={**body, "cron": "61 * * * *"})
    assert bad.status_code == 422
    assert bad.json()["error"]["code"] == "invalid_cron"
    trigger = accepted(acme.post(f"{API}/schedules/{created['id']}/trigger"))
    ticks = read(acme, f"/schedules/{created['id']}/ticks", trigger)["items"]
    assert [t["status"] for t in ticks] == ["triggered"]
    assert globex.get(f"{API}/schedules/{created['id']}").status_code == 404
    assert globex.post(f"{API}/schedules/{created['id']}/pause").status_code == 404


def test_push_sensor_runs_the_projects_code_once_per_message(
    server: tuple[httpx.Client, httpx.Client],
) -> None:
    acme, globex = server
    created = accepted(acme.post(f"{API}/sensors", json={"name": "events_pushed", "kind": "push"}))
    sensor_id = created["id"]
    read(acme, f"/sensors/{sensor_id}", created)
    message = {"message": {"messageId": "m-1", "data": "eyJkYXRlIjogIjIwMjQtMDEtMDUifQ=="}}
    first = accepted(acme.post(f"{API}/sensors/{sensor_id}/push", json=message))
    again = accepted(acme.post(f"{API}/sensors/{sensor_id}/push", json=message))
    assert again["duplicate"] is True
    evals = read(acme, f"/sensors/{sensor_id}/evals", first)["items"]
    assert len(evals) == 1
    assert globex.post(f"{API}/sensors/{sensor_id}/push", json=message).status_code == 404


def test_backfills_partitions_assets_and_workers(server: tuple[httpx.Client, httpx.Client]) -> None:
    acme, globex = server
    body = {
        "asset_selection": ["raw_events"],
        "selector": {"kind": "range", "start": "2024-01-01", "end": "2024-01-31"},
        "chunk_size": 10,
    }
    preview = acme.post(f"{API}/backfills/preview", json=body).json()
    assert preview["partition_count"] == 31
    created = accepted(acme.post(f"{API}/backfills", json=body))
    backfill = read(acme, f"/backfills/{created['id']}", created)
    assert backfill["state"] == "PENDING"
    assert globex.get(f"{API}/backfills/{created['id']}").status_code == 404
    assets = acme.get(f"{API}/assets").json()
    assert {"raw_events", "daily_summary"} <= {a["asset_key"] for a in assets["items"]}
    summary = acme.get(f"{API}/assets/raw_events/partitions/summary").json()
    assert summary["total"] >= 31
    assert acme.get(f"{API}/workers/tasks").status_code == 200
