"""Partition display status and read-time staleness (DESIGN §5), as pure functions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from arco.partitions import DailyPartitionsDefinition
from arco.partitions.status import (
    AssetInfo,
    DisplayStatus,
    PartitionRecord,
    PartitionStatus,
    StaleReason,
    Upstream,
    partition_status,
    summarize,
)

NOW = datetime(2024, 6, 1, 12, tzinfo=UTC)
DAILY = DailyPartitionsDefinition(start_date="2024-05-01")
ASSET = AssetInfo(
    "clean", DAILY, (Upstream("raw"),), code_version="v2", maximum_lag=timedelta(hours=6)
)


def record(**fields: object) -> PartitionRecord:
    base: dict[str, object] = {
        "partition_key": "2024-05-10",
        "last_materialization_at": NOW - timedelta(hours=1),
        "last_materialization_code_version": "v2",
        "last_attempt_outcome": "succeeded",
    }
    return PartitionRecord(**{**base, **fields})  # type: ignore[arg-type]


def status_of(
    rec: PartitionRecord | None, upstream: list[datetime] | None = None, asset: AssetInfo = ASSET
) -> PartitionStatus:
    return partition_status(asset, "2024-05-10", rec, upstream or [], NOW)


def test_a_fresh_materialization_is_materialized_and_not_stale() -> None:
    found = status_of(record())
    assert found.status == DisplayStatus.MATERIALIZED
    assert (found.stale, found.stale_reasons, found.stale_since) == (False, (), None)


def test_no_row_means_never_materialized_and_stale_for_that_reason() -> None:
    found = status_of(None)
    assert found.status == DisplayStatus.NEVER_MATERIALIZED
    assert found.stale_reasons == (StaleReason.NEVER_MATERIALIZED,)
    only_failed = status_of(record(last_materialization_at=None, last_attempt_outcome="failed"))
    assert only_failed.status == DisplayStatus.NEVER_MATERIALIZED


def test_a_failed_attempt_after_a_materialization_keeps_the_materialization() -> None:
    found = status_of(record(last_attempt_outcome="failed"))
    assert found.status == DisplayStatus.MATERIALIZED_LAST_ATTEMPT_FAILED
    assert found.record.last_materialization_at == NOW - timedelta(hours=1)
    cancelled = status_of(record(last_attempt_outcome="cancelled"))
    assert cancelled.status == DisplayStatus.MATERIALIZED


def test_in_progress_wins_over_everything() -> None:
    assert status_of(record(in_progress=True)).status == DisplayStatus.IN_PROGRESS
    assert (
        status_of(PartitionRecord("2024-05-10", in_progress=True)).status
        == DisplayStatus.IN_PROGRESS
    )


def test_freshness_policy_makes_an_old_materialization_stale_since_the_lag_ran_out() -> None:
    materialized = NOW - timedelta(hours=7)
    found = status_of(record(last_materialization_at=materialized))
    assert found.status == DisplayStatus.STALE
    assert found.stale_reasons == (StaleReason.FRESHNESS_POLICY,)
    assert found.stale_since == materialized + timedelta(hours=6)
    exactly_at_lag = status_of(record(last_materialization_at=NOW - timedelta(hours=6)))
    assert not exactly_at_lag.stale


def test_a_later_upstream_materialization_makes_it_stale_since_the_first_later_one() -> None:
    mine = NOW - timedelta(hours=2)
    upstream = [NOW - timedelta(hours=3), NOW - timedelta(minutes=30), NOW - timedelta(minutes=90)]
    found = status_of(record(last_materialization_at=mine), upstream)
    assert found.stale_reasons == (StaleReason.UPSTREAM_CHANGED,)
    assert found.stale_since == NOW - timedelta(minutes=90)
    assert not status_of(record(last_materialization_at=mine), upstream[:1]).stale


def test_a_different_or_missing_code_version_is_code_changed_with_an_unknown_since() -> None:
    found = status_of(record(last_materialization_code_version="v1"))
    assert found.stale_reasons == (StaleReason.CODE_CHANGED,)
    assert found.stale_since is None
    assert status_of(record(last_materialization_code_version=None)).stale
    no_version = AssetInfo("clean", DAILY)
    assert not status_of(record(last_materialization_code_version="v1"), asset=no_version).stale


def test_every_reason_is_reported_and_since_is_the_earliest_known() -> None:
    materialized = NOW - timedelta(hours=8)
    found = status_of(
        record(last_materialization_at=materialized, last_materialization_code_version="v1"),
        [NOW - timedelta(hours=7)],
    )
    assert found.stale_reasons == (
        StaleReason.FRESHNESS_POLICY,
        StaleReason.UPSTREAM_CHANGED,
        StaleReason.CODE_CHANGED,
    )
    assert found.stale_since == NOW - timedelta(hours=7)
    failed_and_stale = status_of(
        record(last_materialization_at=materialized, last_attempt_outcome="failed")
    )
    assert failed_and_stale.status == DisplayStatus.MATERIALIZED_LAST_ATTEMPT_FAILED
    assert failed_and_stale.stale


def test_records_are_read_from_fold_docs() -> None:
    doc = {
        "asset_key": "clean",
        "partition_key": "2024-05-10",
        "in_progress": False,
        "last_materialization_at": "2024-06-01T11:00:00.000000Z",
        "last_materialization_run_id": "run_a",
        "last_materialization_code_version": "v2",
        "last_attempt_outcome": "succeeded",
        "last_attempt_at": "2024-06-01T11:00:00.000000Z",
        "last_attempt_run_id": "run_a",
    }
    rec = PartitionRecord.from_doc(doc)
    assert rec.last_materialization_at == NOW - timedelta(hours=1)
    as_dict = partition_status(ASSET, "2024-05-10", rec, [], NOW).to_dict()
    assert as_dict["status"] == "MATERIALIZED"
    assert as_dict["last_materialization_run_id"] == "run_a"


def test_summary_counts_keys_without_rows_as_never_materialized() -> None:
    summary = summarize(
        ASSET,
        NOW,
        {DisplayStatus.MATERIALIZED: 10, DisplayStatus.STALE: 3, DisplayStatus.IN_PROGRESS: 2},
        {StaleReason.FRESHNESS_POLICY: 3, StaleReason.NEVER_MATERIALIZED: 1},
        1,
    )
    assert summary.total == 31  # May 1..31 have ended by June 1 noon
    assert summary.counts[DisplayStatus.NEVER_MATERIALIZED] == 31 - 15
    assert sum(summary.counts.values()) == 31
    assert summary.stale_by_reason[StaleReason.NEVER_MATERIALIZED] == 16 + 1
    assert summary.to_dict()["counts"]["MATERIALIZED"] == 10  # type: ignore[index]


@pytest.mark.parametrize(
    ("offset", "limit", "expected"),
    [(0, 2, ["2024-05-01", "2024-05-02"]), (30, 5, ["2024-05-31"]), (31, 5, [])],
)
def test_asset_keys_are_walked_lazily_in_definition_order(
    offset: int, limit: int, expected: list[str]
) -> None:
    assert ASSET.keys(offset, limit, NOW) == expected
    assert AssetInfo("report").keys(0, 10, NOW) == ["__all__"]


def test_asset_infos_follow_the_planners_partition_mapping_rules() -> None:
    from arco.sdk.assets import AllPartitionMapping, AssetDep, FreshnessPolicy, asset
    from arco.services.partitions import asset_infos

    @asset(partitions_def=DAILY)
    def raw() -> None: ...

    @asset
    def reference() -> None: ...

    @asset(partitions_def=DAILY)
    def lookup() -> None: ...

    @asset(
        partitions_def=DAILY,
        deps=[raw, reference, AssetDep(lookup, AllPartitionMapping()), "external"],
        code_version="v3",
        freshness_policy=FreshnessPolicy(maximum_lag_minutes=90),
    )
    def clean() -> None: ...

    infos = asset_infos([raw, reference, lookup, clean])
    assert infos["clean"] == AssetInfo(
        "clean",
        DAILY,
        (Upstream("raw"), Upstream("reference", "all"), Upstream("lookup", "all")),
        code_version="v3",
        maximum_lag=timedelta(minutes=90),
    )
    assert infos["reference"].partitions_def is None
