"""Definitions validation: every mistake names the asset, the field and the value."""

from __future__ import annotations

from datetime import timedelta

import pytest

from arco import (
    AllPartitionMapping,
    AssetDep,
    AssetsDefinition,
    DailyPartitionsDefinition,
    Definitions,
    FreshnessPolicy,
    HourlyPartitionsDefinition,
    IdentityPartitionMapping,
    PartitionsDefinition,
    RetryPolicy,
    ScheduleDefinition,
    StaticPartitionsDefinition,
    asset,
    push_sensor,
    sensor,
)
from arco.errors import InvalidCronError, InvalidDefinitionError, InvalidTimezoneError
from arco.events import RetryPolicy as RetryPolicySpec
from arco.partitions.status import Upstream

DAILY = DailyPartitionsDefinition(start_date="2024-01-01")
HOURLY = HourlyPartitionsDefinition(start_date="2024-01-01-00:00")


def make(
    name: str, *deps: str | AssetDep, partitions_def: PartitionsDefinition | None = None
) -> AssetsDefinition:
    return asset(name=name, deps=list(deps), partitions_def=partitions_def)(lambda: None)


def test_a_valid_graph_is_accepted_and_indexed_by_key() -> None:
    defs = Definitions(assets=[make("a"), make("b", "a"), make("c", "a", "b")])
    assert sorted(defs.assets_by_key) == ["a", "b", "c"]
    assert defs.get_asset("c").dep_keys == ("a", "b")
    assert defs.topological_order() == ["a", "b", "c"]


def test_a_cycle_is_reported_with_its_path() -> None:
    with pytest.raises(InvalidDefinitionError) as caught:
        Definitions(assets=[make("a", "c"), make("b", "a"), make("c", "b"), make("d", "a")])
    error = caught.value
    assert error.field == "deps"
    assert error.value == "a -> c -> b -> a"
    assert error.details["cycle"] == ["a", "c", "b", "a"]
    assert "a -> c -> b -> a" in error.message


def test_a_self_dependency_is_a_cycle() -> None:
    with pytest.raises(InvalidDefinitionError) as caught:
        Definitions(assets=[make("a", "a")])
    assert caught.value.value == "a -> a"


def test_an_unknown_dependency_names_the_asset_and_the_missing_key() -> None:
    with pytest.raises(InvalidDefinitionError) as caught:
        Definitions(assets=[make("a"), make("b", "a", "nope")])
    error = caught.value
    assert error.field == "deps"
    assert error.value == "nope"
    assert error.details == {"asset": "b"}
    assert error.allowed == ["a", "b"]


def test_duplicate_asset_names_are_refused() -> None:
    with pytest.raises(InvalidDefinitionError) as caught:
        Definitions(assets=[make("a"), make("a")])
    assert (caught.value.field, caught.value.value) == ("assets", "a")


def test_duplicate_schedule_names_are_refused() -> None:
    schedule = ScheduleDefinition("nightly", cron_schedule="0 2 * * *", target=["a"])
    with pytest.raises(InvalidDefinitionError) as caught:
        Definitions(assets=[make("a")], schedules=[schedule, schedule])
    assert (caught.value.field, caught.value.value) == ("schedules", "nightly")


def test_same_partitions_definition_is_an_identity_dependency() -> None:
    defs = Definitions(
        assets=[make("raw", partitions_def=DAILY), make("summary", "raw", partitions_def=DAILY)]
    )
    assert defs.partition_mappings() == {("summary", "raw"): "identity"}


def test_an_unpartitioned_upstream_is_fine_for_a_partitioned_asset() -> None:
    defs = Definitions(assets=[make("lookup"), make("facts", "lookup", partitions_def=DAILY)])
    assert defs.partition_mappings() == {("facts", "lookup"): "all"}


@pytest.mark.parametrize(
    ("upstream_def", "downstream_def"),
    [(DAILY, HOURLY), (DAILY, None), (StaticPartitionsDefinition(["x"]), DAILY)],
)
def test_incompatible_partitions_are_refused_without_a_mapping(
    upstream_def: PartitionsDefinition, downstream_def: PartitionsDefinition | None
) -> None:
    with pytest.raises(InvalidDefinitionError) as caught:
        Definitions(
            assets=[
                make("up", partitions_def=upstream_def),
                make("down", "up", partitions_def=downstream_def),
            ]
        )
    error = caught.value
    assert error.field == "partitions_def"
    assert error.value == "down"
    assert error.details == {"asset": "down", "upstream": "up"}
    assert "partition_mapping" in error.message


def test_a_declared_mapping_allows_different_partitions() -> None:
    defs = Definitions(
        assets=[
            make("hourly", partitions_def=HOURLY),
            make("report", AssetDep("hourly", partition_mapping=AllPartitionMapping())),
        ]
    )
    assert defs.partition_mappings() == {("report", "hourly"): "all"}


def test_identity_mapping_between_partitioned_and_unpartitioned_is_refused() -> None:
    with pytest.raises(InvalidDefinitionError) as caught:
        Definitions(
            assets=[
                make("up", partitions_def=DAILY),
                make("down", AssetDep("up", partition_mapping=IdentityPartitionMapping())),
            ]
        )
    assert caught.value.field == "partition_mapping"


def test_a_schedule_must_target_known_assets() -> None:
    schedule = ScheduleDefinition("s", cron_schedule="0 * * * *", target=["missing"])
    with pytest.raises(InvalidDefinitionError) as caught:
        Definitions(assets=[make("a")], schedules=[schedule])
    assert (caught.value.field, caught.value.value) == ("target", "missing")
    assert caught.value.details == {"schedule": "s"}


def test_a_schedule_over_differently_partitioned_assets_is_refused() -> None:
    schedule = ScheduleDefinition("s", cron_schedule="0 * * * *", target=["d", "h"])
    with pytest.raises(InvalidDefinitionError) as caught:
        Definitions(
            assets=[make("d", partitions_def=DAILY), make("h", partitions_def=HOURLY)],
            schedules=[schedule],
        )
    assert caught.value.field == "target"


def test_schedule_spec_carries_the_target_partitions() -> None:
    raw = make("raw", partitions_def=DAILY)
    schedule = ScheduleDefinition(
        "daily", cron_schedule="30 2 * * *", target=[raw], execution_timezone="America/New_York"
    )
    defs = Definitions(assets=[raw], schedules=[schedule])
    spec = defs.schedule_specs()["daily"]
    assert spec.cron == "30 2 * * *"
    assert spec.timezone == "America/New_York"
    assert spec.asset_selection == ("raw",)
    assert spec.partitions is not None
    assert spec.partitions.partitions_def == DAILY.to_dict()
    assert spec.partitions.offset == -1


def test_schedule_rejects_a_bad_cron_or_timezone_at_declaration() -> None:
    with pytest.raises(InvalidCronError):
        ScheduleDefinition("s", cron_schedule="61 * * * *", target=["a"])
    with pytest.raises(InvalidTimezoneError):
        ScheduleDefinition("s", cron_schedule="0 * * * *", target=["a"], execution_timezone="Nope")


def test_schedule_name_defaults_from_its_target() -> None:
    assert ScheduleDefinition(cron_schedule="0 0 * * *", target=["a", "b"]).name == "a_b_schedule"


def test_assets_may_be_given_as_objects_in_deps() -> None:
    a = make("a")
    b = asset(name="b", deps=[a])(lambda: None)
    assert Definitions(assets=[a, b]).get_asset("b").dep_keys == ("a",)


def test_the_asset_graph_carries_what_the_run_bridge_plans_from() -> None:
    raw = asset(name="raw", partitions_def=DAILY, code_version="v1")(lambda: None)
    summary = asset(
        name="summary",
        deps=["raw", "lookup"],
        partitions_def=DAILY,
        retry_policy=RetryPolicy(max_retries=2, delay=3),
    )(lambda: None)
    lookup = make("lookup")
    graph = Definitions(assets=[summary, raw, lookup]).asset_graph()
    assert graph.in_order(["summary", "raw", "lookup"]) == ["lookup", "raw", "summary"]
    node = graph.assets["summary"]
    assert node.deps == ("raw", "lookup")
    assert node.retry_policy == RetryPolicySpec(max_retries=2, delay_seconds=3)
    assert node.partitions == DAILY
    assert node.mapping_to(graph.assets["raw"]) == "identity"
    assert node.mapping_to(graph.assets["lookup"]) == "all"
    assert graph.assets["raw"].code_version == "v1"
    assert graph.assets["raw"].retry_policy == RetryPolicySpec()


def test_asset_info_describes_an_asset_for_the_status_read_side() -> None:
    raw = make("raw", partitions_def=DAILY)
    lookup = make("lookup")
    summary = asset(
        name="summary",
        deps=[raw, lookup],
        partitions_def=DAILY,
        code_version="v9",
        freshness_policy=FreshnessPolicy(maximum_lag_minutes=60),
    )(lambda: None)
    defs = Definitions(assets=[raw, lookup, summary])
    info = defs.asset_info("summary")
    assert info.upstreams == (Upstream("raw", "identity"), Upstream("lookup", "all"))
    assert (info.code_version, info.maximum_lag) == ("v9", timedelta(hours=1))
    assert info.partitions_def == DAILY
    assert defs.partitions_by_asset() == {"raw": DAILY, "lookup": None, "summary": DAILY}


def test_a_sensor_must_target_known_assets() -> None:
    @sensor(asset_selection=["ghost"])
    def watch() -> None: ...

    with pytest.raises(InvalidDefinitionError) as caught:
        Definitions(assets=[make("a")], sensors=[watch])
    assert (caught.value.field, caught.value.value) == ("target", "ghost")
    assert caught.value.details == {"sensor": "watch"}


def test_duplicate_sensor_names_are_refused() -> None:
    @sensor(name="same")
    def one() -> None: ...

    @push_sensor(name="same")
    def two() -> None: ...

    with pytest.raises(InvalidDefinitionError) as caught:
        Definitions(sensors=[one, two])
    assert (caught.value.field, caught.value.value) == ("sensors", "same")
