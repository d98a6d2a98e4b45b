"""The @asset decorator: what it records, and what it refuses with a clear error."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta

import pytest

from arco import (
    AllPartitionMapping,
    AssetDep,
    AssetExecutionContext,
    AssetsDefinition,
    Backoff,
    DailyPartitionsDefinition,
    FreshnessPolicy,
    MaterializeResult,
    RetryPolicy,
    asset,
)
from arco.errors import InvalidDefinitionError
from arco.events import RetryPolicy as RetryPolicySpec

DAILY = DailyPartitionsDefinition(start_date="2024-01-01")


def test_bare_decorator_uses_the_function_name_and_docstring() -> None:
    @asset
    def raw_events() -> None:
        """Events as they arrive."""

    assert isinstance(raw_events, AssetsDefinition)
    assert raw_events.key == "raw_events"
    assert raw_events.description == "Events as they arrive."
    assert raw_events.deps == ()
    assert raw_events.partitions_def is None
    assert not raw_events.takes_context


def test_decorator_with_arguments_records_every_field() -> None:
    @asset
    def upstream() -> None: ...

    @asset(
        name="summary",
        deps=[upstream, "other", AssetDep("third", partition_mapping=AllPartitionMapping())],
        partitions_def=DAILY,
        code_version="v2",
        freshness_policy=FreshnessPolicy(maximum_lag_minutes=90),
        retry_policy=RetryPolicy(max_retries=3, delay=timedelta(seconds=5), backoff="exponential"),
        tags={"team": "data"},
    )
    def build(context: AssetExecutionContext) -> None: ...

    assert build.key == "summary"
    assert [dep.key for dep in build.deps] == ["upstream", "other", "third"]
    assert build.deps[2].partition_mapping == AllPartitionMapping()
    assert build.partitions_def == DAILY
    assert build.code_version == "v2"
    assert build.freshness_policy == FreshnessPolicy(maximum_lag_minutes=90)
    assert build.tags == {"team": "data"}
    assert build.takes_context


def test_retry_policy_becomes_the_event_spec() -> None:
    policy = RetryPolicy(max_retries=2, delay=1.5, backoff=Backoff.EXPONENTIAL, jitter=True)
    assert policy.to_spec() == RetryPolicySpec(
        max_retries=2, delay_seconds=1.5, backoff="exponential", jitter=True
    )
    assert RetryPolicy(delay=timedelta(minutes=1)).to_spec().delay_seconds == 60.0


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"max_retries": -1}, "max_retries"),
        ({"delay": -1}, "delay"),
        ({"backoff": "linear"}, "backoff"),
    ],
)
def test_retry_policy_rejects_bad_values(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidDefinitionError) as caught:
        RetryPolicy(**kwargs)  # type: ignore[arg-type]
    assert caught.value.field == field


def test_freshness_policy_needs_a_positive_lag() -> None:
    with pytest.raises(InvalidDefinitionError) as caught:
        FreshnessPolicy(maximum_lag_minutes=0)
    assert caught.value.field == "maximum_lag_minutes"
    assert FreshnessPolicy(maximum_lag_minutes=30).maximum_lag == timedelta(minutes=30)


def test_a_parameter_that_is_not_the_context_is_refused_with_a_hint() -> None:
    with pytest.raises(InvalidDefinitionError) as caught:

        @asset
        def summary(raw_events: object) -> None: ...

    assert caught.value.field == "parameters"
    assert caught.value.value == "raw_events"
    assert "deps=['raw_events']" in caught.value.message


def test_context_may_be_named_anything_when_annotated() -> None:
    @asset
    def a(ctx: AssetExecutionContext) -> None: ...

    assert a.takes_context


@pytest.mark.parametrize("name", ["", "has space", "1starts_with_digit", "a//b", "x[1]"])
def test_invalid_asset_names_are_refused(name: str) -> None:
    with pytest.raises(InvalidDefinitionError) as caught:
        asset(name=name)(lambda: None)
    assert caught.value.field == "name"
    assert caught.value.value == name


def test_key_prefixes_with_slashes_are_allowed() -> None:
    assert asset(name="warehouse/orders")(lambda: None).key == "warehouse/orders"


def test_invalid_tags_are_refused() -> None:
    with pytest.raises(InvalidDefinitionError) as caught:
        asset(name="a", tags={"team": 3})(lambda: None)  # type: ignore[dict-item]
    assert caught.value.field == "tags"


def test_an_asset_may_be_called_directly_in_unit_tests() -> None:
    @asset
    def answer() -> dict[str, int]:
        return {"rows": 42}

    assert answer() == {"rows": 42}


def test_materialize_result_metadata_is_normalized_to_json_scalars() -> None:
    result = MaterializeResult(metadata={"rows": 3, "path": object.__new__(_Pathish), "cols": [1]})
    assert result.normalized_metadata() == {"rows": 3, "path": "/tmp/x", "cols": "[1]"}


class _Pathish:
    def __str__(self) -> str:
        return "/tmp/x"


def test_importing_arco_loads_no_storage_or_server_code() -> None:
    """User projects import ``arco``; that must stay light (task subprocesses pay for it)."""
    probe = (
        "import sys, arco; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'sqlalchemy', 'psycopg', 'sqlite3', 'fastapi', 'httpx', 'alembic'}))"
    )
    output = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert output.strip() == "[]"
