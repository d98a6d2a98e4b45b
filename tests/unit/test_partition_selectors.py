"""Selectors resolve lazily: count and slice without expanding a range (DESIGN §5, backfills)."""

from __future__ import annotations

import tracemalloc
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arco.errors import InvalidPartitionKeyError, InvalidPartitionRangeError, InvalidSelectorError
from arco.events.selectors import FilterSelector, KeysSelector, RangeSelector
from arco.partitions import (
    DailyPartitionsDefinition,
    HourlyPartitionsDefinition,
    MultiPartitionsDefinition,
    PartitionsDefinition,
    StaticPartitionsDefinition,
)

NOW = datetime(2024, 2, 1, tzinfo=UTC)
REGIONS = StaticPartitionsDefinition(["us-east", "us-west", "eu-west", "ap-south"])
DAILY = DailyPartitionsDefinition(start_date="2024-01-01")
HOURLY = HourlyPartitionsDefinition(start_date="2024-01-01-00:00", timezone="America/New_York")
MULTI = MultiPartitionsDefinition({"date": DAILY, "region": REGIONS})


# --- range ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("definition", "start", "end", "expected"),
    [
        (REGIONS, "us-west", "ap-south", ["us-west", "eu-west", "ap-south"]),
        (REGIONS, "eu-west", "eu-west", ["eu-west"]),
        (DAILY, "2024-01-30", "2024-01-31", ["2024-01-30", "2024-01-31"]),
        (
            HOURLY,
            "2024-01-31-22:00",
            "2024-02-01-00:00",
            ["2024-01-31-22:00", "2024-01-31-23:00", "2024-02-01-00:00"],
        ),
        (
            MULTI,
            "2024-01-01|eu-west",
            "2024-01-02|us-west",
            [
                "2024-01-01|eu-west",
                "2024-01-01|ap-south",
                "2024-01-02|us-east",
                "2024-01-02|us-west",
            ],
        ),
    ],
)
def test_range_resolves_in_definition_order(
    definition: PartitionsDefinition, start: str, end: str, expected: list[str]
) -> None:
    resolution = definition.resolve(RangeSelector(start=start, end=end), NOW + timedelta(hours=6))
    assert resolution.count() == len(expected)
    assert resolution.keys(0, 100) == expected
    assert resolution.keys(1, 2) == expected[1:3]
    assert resolution.keys(len(expected), 10) == []


def test_range_start_after_end_is_rejected() -> None:
    with pytest.raises(InvalidPartitionRangeError) as caught:
        DAILY.resolve(RangeSelector(start="2024-01-05", end="2024-01-02"), NOW)
    assert caught.value.field == "range"
    assert "2024-01-05" in caught.value.message
    assert "2024-01-02" in caught.value.message


@pytest.mark.parametrize(
    ("start", "end", "field"),
    [
        ("2023-12-31", "2024-01-02", "start"),
        ("2024-01-01", "2024-02-01", "end"),
        ("jan", "2024-01-02", "start"),
    ],
)
def test_range_with_an_unknown_key_is_rejected(start: str, end: str, field: str) -> None:
    with pytest.raises(InvalidPartitionRangeError) as caught:
        DAILY.resolve(RangeSelector(start=start, end=end), NOW)
    assert caught.value.field == field
    assert "%Y-%m-%d" in str(caught.value.allowed)


# --- explicit keys --------------------------------------------------------------------


def test_keys_keep_order_and_drop_duplicates() -> None:
    selector = KeysSelector(keys=("eu-west", "us-east", "eu-west", "ap-south", "us-east"))
    resolution = REGIONS.resolve(selector, NOW)
    assert resolution.count() == 3
    assert resolution.keys(0, 10) == ["eu-west", "us-east", "ap-south"]
    assert resolution.keys(2, 10) == ["ap-south"]


def test_keys_with_an_unknown_key_name_it() -> None:
    with pytest.raises(InvalidPartitionKeyError) as caught:
        DAILY.resolve(KeysSelector(keys=("2024-01-02", "2024-02-01")), NOW)
    assert caught.value.value == "2024-02-01"


# --- filter ---------------------------------------------------------------------------


def test_filter_on_a_single_dimension_uses_the_name_key() -> None:
    resolution = REGIONS.resolve(FilterSelector(dimensions={"key": "us-*"}), NOW)
    assert resolution.count() == 2
    assert resolution.keys(0, 10) == ["us-east", "us-west"]


def test_filter_on_multi_dimensions_with_a_range() -> None:
    selector = FilterSelector(
        dimensions={"region": "*-west", "date": "2024-01-1?"},
        range=RangeSelector(start="2024-01-10|us-east", end="2024-01-25|ap-south"),
    )
    resolution = MULTI.resolve(selector, NOW)
    expected = [f"2024-01-1{d}|{r}" for d in range(10) for r in ("us-west", "eu-west")]
    assert resolution.count() == 20
    assert resolution.keys(0, 100) == expected
    assert resolution.keys(5, 3) == expected[5:8]


def test_filter_without_range_covers_the_definition_up_to_now() -> None:
    resolution = DAILY.resolve(FilterSelector(dimensions={"key": "2024-01-3*"}), NOW)
    assert resolution.keys(0, 10) == ["2024-01-30", "2024-01-31"]


def test_filter_with_an_unknown_dimension_names_the_allowed_ones() -> None:
    with pytest.raises(InvalidSelectorError) as caught:
        MULTI.resolve(FilterSelector(dimensions={"country": "fr"}), NOW)
    assert caught.value.field == "dimensions"
    assert caught.value.value == "country"
    assert list(caught.value.allowed or []) == ["date", "region"]


def test_filter_glob_is_case_sensitive() -> None:
    assert REGIONS.resolve(FilterSelector(dimensions={"key": "US-*"}), NOW).count() == 0


@pytest.mark.parametrize(("offset", "limit"), [(-1, 5), (0, -1)])
def test_negative_slices_are_refused(offset: int, limit: int) -> None:
    with pytest.raises(ValueError, match="offset and limit"):
        REGIONS.resolve(RangeSelector(start="us-east", end="ap-south"), NOW).keys(offset, limit)


# --- properties -----------------------------------------------------------------------

DEFINITIONS = [REGIONS, DAILY, HOURLY, MULTI]


@settings(max_examples=150, deadline=None)
@given(
    which=st.integers(0, len(DEFINITIONS) - 1),
    bounds=st.tuples(st.integers(0, 60), st.integers(0, 60)),
    page=st.integers(1, 17),
    use_filter=st.booleans(),
)
def test_slices_concatenate_to_the_whole_resolution(
    which: int, bounds: tuple[int, int], page: int, use_filter: bool
) -> None:
    definition = DEFINITIONS[which]
    size = definition.count(NOW)
    first, last = sorted(min(b, size - 1) for b in bounds)
    every = list(definition.iter_keys(0, NOW))
    start, end = definition.key_at(first, NOW), definition.key_at(last, NOW)
    selector = RangeSelector(start=start, end=end)
    expected = every[first : last + 1]
    if use_filter:
        globs = dict.fromkeys(definition.dimension_names, "*")
        globs[definition.dimension_names[-1]] = "*[0-5]*"
        selector_or_filter: RangeSelector | FilterSelector = FilterSelector(
            dimensions=globs, range=selector
        )
        last_name = definition.dimension_names[-1]
        expected = [
            k for k in expected if any(c in "012345" for c in definition.split_key(k)[last_name])
        ]
    else:
        selector_or_filter = selector
    resolution = definition.resolve(selector_or_filter, NOW)
    pages = [resolution.keys(offset, page) for offset in range(0, len(expected) + page, page)]
    assert [key for chunk in pages for key in chunk] == expected
    assert resolution.count() == len(expected)


# --- a million partitions, lazily --------------------------------------------------------


def test_a_million_hourly_partitions_resolve_in_small_memory() -> None:
    hourly = HourlyPartitionsDefinition(start_date="2000-01-01-00:00", timezone="America/New_York")
    now = datetime(2120, 1, 1, tzinfo=UTC)
    last = hourly.key_at(999_999)
    selector = RangeSelector(start="2000-01-01-00:00", end=last)
    tracemalloc.start()
    try:
        resolution = hourly.resolve(selector, now)
        count = resolution.count()
        first_page = resolution.keys(0, 1000)
        last_page = resolution.keys(999_000, 1000)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 1_000_000
    assert first_page[:2] == ["2000-01-01-00:00", "2000-01-01-01:00"]
    assert len(first_page) == len(last_page) == 1000
    assert last_page[-1] == last
    assert peak < 5 * 1024 * 1024


def test_an_unknown_selector_kind_is_refused() -> None:
    with pytest.raises(InvalidSelectorError) as caught:
        REGIONS.resolve("us-east", NOW)  # type: ignore[arg-type]
    assert caught.value.field == "kind"
    assert list(caught.value.allowed or []) == ["range", "keys", "filter"]
