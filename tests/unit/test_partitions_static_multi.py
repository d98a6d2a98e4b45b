"""Static and multi-dimensional partitions: order, indexes, keys and serialization."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arco.errors import InvalidDefinitionError, InvalidPartitionKeyError, InvalidPartitionRangeError
from arco.partitions import (
    DailyPartitionsDefinition,
    MultiPartitionsDefinition,
    PartitionsDefinition,
    StaticPartitionsDefinition,
    partitions_def_from_dict,
)

NOW = datetime(2024, 1, 4, 12, tzinfo=UTC)  # daily partitions 2024-01-01 .. 2024-01-03 exist
REGIONS = StaticPartitionsDefinition(["us-east", "eu-west", "ap-south"])
DAILY = DailyPartitionsDefinition(start_date="2024-01-01")


# --- static ---------------------------------------------------------------------------


def test_static_keys_keep_the_order_given() -> None:
    assert REGIONS.count() == 3
    assert list(REGIONS.iter_keys()) == ["us-east", "eu-west", "ap-south"]
    assert list(REGIONS.iter_keys(1)) == ["eu-west", "ap-south"]
    assert REGIONS.index_of("ap-south") == 2
    assert REGIONS.key_at(0) == "us-east"
    assert REGIONS.first_key() == "us-east"
    assert REGIONS.last_key() == "ap-south"
    assert REGIONS.dimension_names == ("key",)
    assert REGIONS.split_key("eu-west") == {"key": "eu-west"}


def test_static_unknown_key_names_the_key_and_the_allowed_keys() -> None:
    with pytest.raises(InvalidPartitionKeyError) as caught:
        REGIONS.validate_key("us-west")
    assert caught.value.value == "us-west"
    assert caught.value.field == "partition_key"
    assert "us-east" in str(caught.value.allowed)
    assert "'us-west'" in caught.value.message


@pytest.mark.parametrize("index", [-1, 3, 100])
def test_static_key_at_out_of_range(index: int) -> None:
    with pytest.raises(InvalidPartitionRangeError) as caught:
        REGIONS.key_at(index)
    assert caught.value.field == "index"
    assert caught.value.value == index


@pytest.mark.parametrize("keys", [["a", "b", "a"], ["a", ""]])
def test_static_duplicate_or_empty_keys_are_rejected(keys: list[str]) -> None:
    with pytest.raises(InvalidDefinitionError) as caught:
        StaticPartitionsDefinition(keys)
    assert caught.value.field == "keys"


def test_static_round_trip_and_equality() -> None:
    data = json.loads(json.dumps(REGIONS.to_dict()))
    assert data == {"type": "static", "keys": ["us-east", "eu-west", "ap-south"]}
    assert partitions_def_from_dict(data) == REGIONS
    assert StaticPartitionsDefinition(("a", "b")) == StaticPartitionsDefinition(["a", "b"])
    assert StaticPartitionsDefinition(["a", "b"]) != StaticPartitionsDefinition(["b", "a"])


# --- multi ---------------------------------------------------------------------------

MULTI = MultiPartitionsDefinition({"region": REGIONS, "date": DAILY})


def test_multi_dimensions_are_ordered_by_name_and_keys_joined_with_a_bar() -> None:
    assert MULTI.dimension_names == ("date", "region")
    assert MULTI.count(NOW) == 9
    assert list(MULTI.iter_keys(0, NOW)) == [
        "2024-01-01|us-east",
        "2024-01-01|eu-west",
        "2024-01-01|ap-south",
        "2024-01-02|us-east",
        "2024-01-02|eu-west",
        "2024-01-02|ap-south",
        "2024-01-03|us-east",
        "2024-01-03|eu-west",
        "2024-01-03|ap-south",
    ]
    assert MULTI.split_key("2024-01-02|eu-west") == {"date": "2024-01-02", "region": "eu-west"}
    assert MULTI.join_key({"region": "eu-west", "date": "2024-01-02"}) == "2024-01-02|eu-west"
    assert MULTI.last_key(NOW) == "2024-01-03|ap-south"


def test_multi_index_is_mixed_radix() -> None:
    assert MULTI.index_of("2024-01-02|ap-south") == 5
    assert MULTI.key_at(5) == "2024-01-02|ap-south"
    assert MULTI.key_at(4, NOW) == "2024-01-02|eu-west"
    assert list(MULTI.iter_keys(7, NOW)) == ["2024-01-03|eu-west", "2024-01-03|ap-south"]


def test_multi_with_an_open_ended_inner_dimension_needs_now_to_index() -> None:
    inner_time = MultiPartitionsDefinition({"a_region": REGIONS, "date": DAILY})
    assert inner_time.dimension_names == ("a_region", "date")
    assert inner_time.index_of("eu-west|2024-01-02", NOW) == 4
    assert inner_time.key_at(4, NOW) == "eu-west|2024-01-02"
    with pytest.raises(ValueError, match="now"):
        inner_time.index_of("eu-west|2024-01-02")


@pytest.mark.parametrize(
    ("key", "dimension"),
    [
        ("2024-01-02", None),
        ("2024-01-02|eu-west|x", None),
        ("2024-01-02|mars", "region"),
        ("2024-13-02|eu-west", "date"),
        ("2024-01-09|eu-west", "date"),
    ],
)
def test_multi_invalid_keys_say_which_dimension(key: str, dimension: str | None) -> None:
    with pytest.raises(InvalidPartitionKeyError) as caught:
        MULTI.validate_key(key, NOW)
    assert caught.value.value == key
    assert "<date>|<region>" in str(caught.value.allowed)
    if dimension is not None:
        assert caught.value.details["dimension"] == dimension


@pytest.mark.parametrize(
    ("dimensions", "field"),
    [
        ({"only": REGIONS}, "dimensions"),
        ({"a|b": REGIONS, "date": DAILY}, "dimensions"),
        ({"": REGIONS, "date": DAILY}, "dimensions"),
        ({"region": StaticPartitionsDefinition(["a|b"]), "date": DAILY}, "keys"),
        ({"nested": MULTI, "date": DAILY}, "dimensions"),
    ],
)
def test_invalid_multi_definitions(dimensions: dict[str, PartitionsDefinition], field: str) -> None:
    with pytest.raises(InvalidDefinitionError) as caught:
        MultiPartitionsDefinition(dimensions)
    assert caught.value.field == field


def test_multi_round_trip() -> None:
    data = json.loads(json.dumps(MULTI.to_dict()))
    assert data["type"] == "multi"
    assert set(data["dimensions"]) == {"date", "region"}
    assert partitions_def_from_dict(data) == MULTI


@pytest.mark.parametrize(
    "data",
    [
        {"type": "dynamic"},
        {},
        {"type": "static", "keys": "abc"},
        {"type": "multi", "dimensions": []},
    ],
)
def test_from_dict_rejects_unknown_shapes(data: dict[str, object]) -> None:
    with pytest.raises(InvalidDefinitionError):
        partitions_def_from_dict(data)


@settings(max_examples=100, deadline=None)
@given(index=st.integers(0, 8))
def test_multi_key_at_index_of_inverse(index: int) -> None:
    key = MULTI.key_at(index, NOW)
    assert MULTI.index_of(key, NOW) == index
    assert MULTI.key_at(MULTI.index_of(key, NOW), NOW) == key


@settings(max_examples=50, deadline=None)
@given(
    keys=st.lists(
        st.text(st.characters(exclude_characters="|"), min_size=1),
        min_size=1,
        max_size=20,
        unique=True,
    )
)
def test_static_index_round_trip_for_any_keys(keys: list[str]) -> None:
    definition = StaticPartitionsDefinition(keys)
    assert [definition.key_at(definition.index_of(k)) for k in keys] == keys
    assert list(definition.iter_keys()) == keys
