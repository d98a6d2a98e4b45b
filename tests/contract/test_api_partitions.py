"""Assets and partition status over HTTP on every backend: lists, filters, stale, summaries;
a tenant only ever sees what its own runs materialized."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from arco import DailyPartitionsDefinition, Definitions, FreshnessPolicy, asset
from arco.api.app import API_PREFIX
from arco.clock import ManualClock
from arco.runtime.instance import Instance
from support.api import ACME, GLOBEX, api_client
from support.backfills import run_events
from support.factories import envelope, run_requested

NOW = datetime(2024, 6, 1, 12, tzinfo=UTC)
DAILY = DailyPartitionsDefinition(start_date="2024-01-01")
DAYS = 152  # 2024-01-01 .. 2024-05-31
ASSETS = f"{API_PREFIX}/assets"
PARTITIONS = f"{API_PREFIX}/partitions"


def project() -> Definitions:
    @asset(partitions_def=DAILY, code_version="v1")
    def raw() -> None:
        return None

    @asset(
        deps=[raw],
        partitions_def=DAILY,
        code_version="v1",
        freshness_policy=FreshnessPolicy(maximum_lag_minutes=24 * 60),
    )
    def clean() -> None:
        return None

    @asset(name="warehouse/orders", partitions_def=DAILY, code_version="v1")
    def orders() -> None:
        return None

    @asset(code_version="v1")
    def report() -> None:
        return None

    return Definitions(assets=[raw, clean, orders, report])


class Api:
    def __init__(self, http: TestClient, instance: Instance, clock: ManualClock) -> None:
        self.http, self.instance, self.clock = http, instance, clock
        self.runs = 0

    def get(
        self, path: str, expect: int = 200, headers: dict[str, str] | None = None, **params: Any
    ) -> Any:
        response = self.http.get(path, params=params, headers=headers or ACME)
        assert response.status_code == expect, response.text
        return response.json()

    def materialize(
        self, asset_key: str, keys: list[str | None], failing: Collection[str] = ()
    ) -> str:
        """One run of ``asset_key`` over ``keys`` a minute from now; its last event's id."""
        self.runs += 1
        at = self.clock.advance(timedelta(minutes=1))
        request = run_requested(f"run-{self.runs}", assets=(asset_key,))
        events = [
            envelope(e, at=at)
            for e in [request, *run_events(request.run_id, keys, failing, assets=(asset_key,))]  # type: ignore[arg-type]
        ]
        self.instance.ledger.append(events)
        return events[-1].event_id

    def walk(self, path: str, **params: Any) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        page = self.get(path, **params)
        while True:
            items += page["items"]
            if page["next_cursor"] is None:
                return items
            page = self.get(path, cursor=page["next_cursor"], **params)


@pytest.fixture
def api(db_url: str) -> Iterator[Api]:
    clock = ManualClock(NOW)
    with api_client(db_url, clock=clock, definitions=project()) as (http, instance):
        yield Api(http, instance, clock)


def test_assets_lists_the_project_with_its_partitions(api: Api) -> None:
    items = api.get(ASSETS)["items"]
    assert [a["asset_key"] for a in items] == ["clean", "raw", "report", "warehouse/orders"]
    clean = items[0]
    assert (clean["partitioned"], clean["partition_count"], clean["deps"]) == (True, DAYS, ["raw"])
    assert clean["partitions_def"]["type"] == "time_window"
    assert "2024-01-01" in clean["partitions_description"]
    assert clean["freshness_maximum_lag_minutes"] == 24 * 60
    report = items[2]
    assert (report["partitioned"], report["partition_count"]) == (False, 1)
    assert report["partitions_def"] is None
    assert api.get(f"{ASSETS}/warehouse/orders")["asset_key"] == "warehouse/orders"


def test_partitions_of_an_asset_page_in_definition_order_with_status(api: Api) -> None:
    event_id = api.materialize("raw", ["2024-01-02", "2024-01-03"], failing={"2024-01-03"})
    first = api.get(f"{ASSETS}/raw/partitions", limit=3, wait_for_event_id=event_id)
    assert [(p["partition_key"], p["status"]) for p in first["items"]] == [
        ("2024-01-01", "NEVER_MATERIALIZED"),
        ("2024-01-02", "MATERIALIZED"),
        ("2024-01-03", "NEVER_MATERIALIZED"),
    ]
    assert first["items"][1]["last_materialization_run_id"] == run_requested("run-1").run_id
    assert first["items"][2]["last_attempt_outcome"] == "failed"
    assert {p["asset_key"] for p in first["items"]} == {"raw"}
    everything = api.walk(f"{ASSETS}/raw/partitions", limit=50)
    assert len(everything) == DAYS
    assert everything[-1]["partition_key"] == "2024-05-31"
    materialized = api.get(f"{ASSETS}/raw/partitions", status="MATERIALIZED")["items"]
    assert [p["partition_key"] for p in materialized] == ["2024-01-02"]
    one = api.get(f"{ASSETS}/raw/partitions/2024-01-02")
    assert (one["status"], one["stale"], one["stale_reasons"]) == ("MATERIALIZED", False, [])


def test_summary_counts_every_status(api: Api) -> None:
    api.materialize("raw", ["2024-01-01", "2024-01-02", "2024-01-03"])
    event_id = api.materialize("raw", ["2024-01-03", "2024-01-04"], failing={"2024-01-03"})
    summary = api.get(f"{ASSETS}/raw/partitions/summary", wait_for_event_id=event_id)
    assert summary["asset_key"] == "raw"
    assert summary["total"] == DAYS
    assert summary["counts"] == {
        "NEVER_MATERIALIZED": DAYS - 4,
        "MATERIALIZED": 3,
        "MATERIALIZED_LAST_ATTEMPT_FAILED": 1,
        "STALE": 0,
        "IN_PROGRESS": 0,
    }
    assert summary["last_attempt_failed"] == 1
    assert summary["stale_by_reason"]["NEVER_MATERIALIZED"] == DAYS - 4
    unpartitioned = api.get(f"{ASSETS}/report/partitions/summary")
    assert (unpartitioned["total"], unpartitioned["counts"]["NEVER_MATERIALIZED"]) == (1, 1)
    prefixed = api.get(f"{ASSETS}/warehouse/orders/partitions/summary")
    assert (prefixed["asset_key"], prefixed["total"]) == ("warehouse/orders", DAYS)


def test_stale_partitions_name_their_reasons(api: Api) -> None:
    api.materialize("raw", ["2024-02-01", "2024-02-02"])
    api.materialize("clean", ["2024-02-01", "2024-02-02"])
    event_id = api.materialize("raw", ["2024-02-02"])  # later than clean's: upstream changed
    stale = api.get(f"{PARTITIONS}/stale", wait_for_event_id=event_id)["items"]
    assert [(p["asset_key"], p["partition_key"], p["stale_reasons"]) for p in stale] == [
        ("clean", "2024-02-02", ["UPSTREAM_CHANGED"])
    ]
    assert stale[0]["status"] == "STALE"
    api.clock.advance(timedelta(days=2))  # past clean's freshness policy
    later = api.get(f"{PARTITIONS}/stale", asset_key="clean")["items"]
    assert [(p["partition_key"], p["stale_reasons"]) for p in later] == [
        ("2024-02-01", ["FRESHNESS_POLICY"]),
        ("2024-02-02", ["FRESHNESS_POLICY", "UPSTREAM_CHANGED"]),
    ]
    assert api.get(f"{ASSETS}/clean/partitions", status="STALE")["items"][0]["stale_since"]
    summary = api.get(f"{ASSETS}/clean/partitions/summary")
    assert summary["stale_by_reason"]["FRESHNESS_POLICY"] == 2


def test_partitions_listing_filters_by_asset_and_status_or_walks_every_asset(api: Api) -> None:
    api.materialize("raw", ["2024-03-01"])
    event_id = api.materialize("report", [None])
    materialized = api.get(PARTITIONS, status="MATERIALIZED", wait_for_event_id=event_id)
    assert [(p["asset_key"], p["partition_key"]) for p in materialized["items"]] == [
        ("raw", "2024-03-01"),
        ("report", "__all__"),
    ]
    only_raw = api.get(PARTITIONS, asset_key="raw", status="MATERIALIZED")["items"]
    assert [p["partition_key"] for p in only_raw] == ["2024-03-01"]
    everything = api.walk(PARTITIONS, limit=100)
    assert len(everything) == 3 * DAYS + 1
    order = list(dict.fromkeys(p["asset_key"] for p in everything))
    assert order == ["clean", "raw", "report", "warehouse/orders"]
    assert len({(p["asset_key"], p["partition_key"]) for p in everything}) == len(everything)


def test_bad_requests_name_the_field(api: Api) -> None:
    unknown = api.get(f"{ASSETS}/nope/partitions", expect=404)["error"]
    assert (unknown["field"], "raw" in unknown["allowed"]) == ("asset_key", True)
    assert api.get(f"{ASSETS}/nope/partitions/summary", expect=404)["error"]["code"] == "not_found"
    assert api.get(f"{ASSETS}/nope", expect=404)["error"]["field"] == "asset_key"
    filtered = api.get(PARTITIONS, asset_key="nope", expect=422)["error"]
    assert (filtered["field"], "clean" in filtered["allowed"]) == ("asset_key", True)
    status = api.get(f"{ASSETS}/raw/partitions", status="GREEN", expect=422)["error"]
    assert (status["field"], "STALE" in status["allowed"]) == ("status", True)
    key = api.get(f"{ASSETS}/raw/partitions/2030-01-01", expect=422)["error"]
    assert (key["code"], key["field"]) == ("invalid_partition_key", "partition_key")
    assert api.get(PARTITIONS, cursor="garbage", expect=422)["error"]["field"] == "cursor"
    assert api.get(f"{PARTITIONS}/stale", cursor="Wy", expect=422)["error"]["field"] == "cursor"


def test_without_a_project_partitions_say_how_to_load_one(db_url: str) -> None:
    with api_client(db_url) as (http, _):
        for path in (ASSETS, PARTITIONS, f"{ASSETS}/raw/partitions/summary"):
            response = http.get(path, headers=ACME)
            assert response.status_code == 409, path
            assert response.json()["error"]["details"]["reason"] == "no_project_loaded"


def test_another_tenant_never_sees_these_materializations(api: Api) -> None:
    event_id = api.materialize("raw", ["2024-01-01", "2024-01-02"])
    mine = api.get(f"{ASSETS}/raw/partitions/summary", wait_for_event_id=event_id)
    assert mine["counts"]["MATERIALIZED"] == 2
    theirs = api.get(f"{ASSETS}/raw/partitions/summary", headers=GLOBEX)
    assert (theirs["counts"]["MATERIALIZED"], theirs["counts"]["NEVER_MATERIALIZED"]) == (0, DAYS)
    one = api.get(f"{ASSETS}/raw/partitions/2024-01-01", headers=GLOBEX)
    assert (one["status"], one["last_materialization_run_id"]) == ("NEVER_MATERIALIZED", None)
    assert api.get(PARTITIONS, status="MATERIALIZED", headers=GLOBEX)["items"] == []
    assert api.get(f"{PARTITIONS}/stale", headers=GLOBEX)["items"] == []
    # Not even the event id is theirs to wait for.
    waited = api.get(
        f"{ASSETS}/raw/partitions", expect=404, headers=GLOBEX, wait_for_event_id=event_id
    )
    assert waited["error"]["field"] == "wait_for_event_id"
