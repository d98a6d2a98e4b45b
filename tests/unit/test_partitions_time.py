"""Time-window partitions (DESIGN §5): Dagster's keys, windows and bounds, across DST."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from itertools import islice
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arco.errors import (
    InvalidCronError,
    InvalidDefinitionError,
    InvalidPartitionKeyError,
    InvalidPartitionRangeError,
    InvalidTimezoneError,
)
from arco.partitions import (
    DailyPartitionsDefinition,
    HourlyPartitionsDefinition,
    MonthlyPartitionsDefinition,
    TimeWindow,
    TimeWindowPartitionsDefinition,
    WeeklyPartitionsDefinition,
    partitions_def_from_dict,
)

NY = "America/New_York"
LONDON = "Europe/London"
FAR_FUTURE = datetime(2100, 1, 1, tzinfo=UTC)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def keys_of(definition: TimeWindowPartitionsDefinition, first: str, last: str) -> list[str]:
    """Every key from ``first`` to ``last`` inclusive, through the public index API."""
    i, j = definition.index_of(first), definition.index_of(last)
    return list(islice(definition.iter_keys(i, FAR_FUTURE), j - i + 1))


# --- bounds: start, end (exclusive), now and end_offset ---------------------------------


def test_daily_partitions_end_before_now() -> None:
    daily = DailyPartitionsDefinition(start_date="2024-01-01")
    now = at("2024-01-05T12:00+00:00")
    assert daily.count(now) == 4
    assert list(daily.iter_keys(0, now)) == ["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04"]
    assert daily.first_key() == "2024-01-01"
    assert daily.last_key(now) == "2024-01-04"


@pytest.mark.parametrize(
    ("end_offset", "count", "last"),
    [(0, 4, "2024-01-04"), (1, 5, "2024-01-05"), (2, 6, "2024-01-06"), (-1, 3, "2024-01-03")],
)
def test_end_offset_moves_the_last_partition(end_offset: int, count: int, last: str) -> None:
    daily = DailyPartitionsDefinition(start_date="2024-01-01", end_offset=end_offset)
    now = at("2024-01-05T12:00+00:00")
    assert daily.count(now) == count
    assert daily.last_key(now) == last


def test_a_window_ending_exactly_now_is_complete() -> None:
    daily = DailyPartitionsDefinition(start_date="2024-01-01")
    assert daily.last_key(at("2024-01-03T00:00+00:00")) == "2024-01-02"
    assert daily.last_key(at("2024-01-02T23:59:59.999999+00:00")) == "2024-01-01"


def test_end_is_exclusive_and_caps_end_offset() -> None:
    daily = DailyPartitionsDefinition(start_date="2024-01-01", end_date="2024-01-10", end_offset=3)
    assert daily.count(FAR_FUTURE) == 9
    assert daily.last_key(FAR_FUTURE) == "2024-01-09"
    assert daily.count() == 9  # bounded: no need for now
    assert daily.count(at("2024-01-05T00:00+00:00")) == 7


def test_no_partition_yet_gives_no_last_key() -> None:
    daily = DailyPartitionsDefinition(start_date="2024-01-01")
    assert daily.count(at("2023-06-01T00:00+00:00")) == 0
    assert daily.last_key(at("2023-06-01T00:00+00:00")) is None


def test_open_ended_count_needs_now() -> None:
    with pytest.raises(ValueError, match="now"):
        DailyPartitionsDefinition(start_date="2024-01-01").count()


# --- keys, windows and formats -----------------------------------------------------------


def test_window_of_a_key_is_half_open_in_utc() -> None:
    daily = DailyPartitionsDefinition(start_date="2024-01-01", timezone=NY)
    window = daily.window("2024-01-02")
    assert window == TimeWindow(at("2024-01-02T00:00-05:00"), at("2024-01-03T00:00-05:00"))
    assert window.start.tzinfo is UTC


@pytest.mark.parametrize(
    ("definition", "first_keys"),
    [
        (
            HourlyPartitionsDefinition(start_date="2024-01-01-00:00"),
            ["2024-01-01-00:00", "2024-01-01-01:00"],
        ),
        (
            HourlyPartitionsDefinition(start_date="2024-01-01-00:00", minute_offset=15),
            ["2024-01-01-00:15", "2024-01-01-01:15"],
        ),
        (DailyPartitionsDefinition(start_date="2024-01-01"), ["2024-01-01", "2024-01-02"]),
        # The first partition starts at the first tick at or after the start.
        (WeeklyPartitionsDefinition(start_date="2024-01-01"), ["2024-01-07", "2024-01-14"]),
        (
            WeeklyPartitionsDefinition(start_date="2024-01-01", day_offset=1),
            ["2024-01-01", "2024-01-08"],
        ),
        (MonthlyPartitionsDefinition(start_date="2024-01-01"), ["2024-01-01", "2024-02-01"]),
        (
            MonthlyPartitionsDefinition(start_date="2024-01-01", day_offset=15),
            ["2024-01-15", "2024-02-15"],
        ),
        (
            TimeWindowPartitionsDefinition(
                "0 */6 * * *", start="2024-01-01-00:00", fmt="%Y-%m-%d-%H:%M"
            ),
            ["2024-01-01-00:00", "2024-01-01-06:00"],
        ),
    ],
)
def test_helpers_use_dagsters_default_formats(
    definition: TimeWindowPartitionsDefinition, first_keys: list[str]
) -> None:
    assert [definition.key_at(0), definition.key_at(1)] == first_keys
    assert definition.first_key() == first_keys[0]


def test_daily_with_hour_offset_keeps_its_date_key_when_the_tick_is_moved_by_dst() -> None:
    daily = DailyPartitionsDefinition(
        start_date="2024-03-08", hour_offset=2, minute_offset=30, timezone=NY
    )
    assert daily.window("2024-03-10") == TimeWindow(
        at("2024-03-10T03:00-04:00"), at("2024-03-11T02:30-04:00")
    )
    assert daily.window("2024-03-09").end == at("2024-03-10T03:00-04:00")
    assert keys_of(daily, "2024-03-09", "2024-03-11") == ["2024-03-09", "2024-03-10", "2024-03-11"]


# --- DST ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tz", "day", "expected"),
    [
        (NY, "2024-03-10", 23),
        (NY, "2024-11-03", 25),
        (LONDON, "2024-03-31", 23),
        (LONDON, "2024-10-27", 25),
    ],
)
def test_hourly_keys_over_a_dst_day(tz: str, day: str, expected: int) -> None:
    hourly = HourlyPartitionsDefinition(start_date="2024-01-01-00:00", timezone=tz)
    next_day = (date.fromisoformat(day) + timedelta(days=1)).isoformat()
    first = hourly.index_of(f"{day}-00:00")
    assert hourly.index_of(f"{next_day}-00:00") - first == expected
    daily = DailyPartitionsDefinition(start_date="2024-01-01", timezone=tz)
    window = daily.window(day)
    assert window.end - window.start == timedelta(hours=expected)


def test_a_day_whose_midnight_does_not_exist_starts_when_the_clock_jumps() -> None:
    # America/Santiago jumps from 2024-09-08T00:00-04:00 to 01:00-03:00 and falls back from
    # 2024-04-07T00:00-03:00 to 2024-04-06T23:00-04:00.
    daily = DailyPartitionsDefinition(start_date="2024-01-01", timezone="America/Santiago")
    assert daily.window("2024-09-08") == TimeWindow(
        at("2024-09-08T01:00-03:00"), at("2024-09-09T00:00-03:00")
    )
    assert daily.window("2024-09-07").end == at("2024-09-08T01:00-03:00")
    assert daily.window("2024-04-06") == TimeWindow(
        at("2024-04-06T00:00-03:00"), at("2024-04-07T00:00-04:00")
    )
    assert keys_of(daily, "2024-09-07", "2024-09-09") == ["2024-09-07", "2024-09-08", "2024-09-09"]


def test_new_york_fall_back_gives_the_repeated_hour_a_key_with_its_offset() -> None:
    hourly = HourlyPartitionsDefinition(start_date="2024-11-01-00:00", timezone=NY)
    assert keys_of(hourly, "2024-11-03-00:00", "2024-11-03-03:00") == [
        "2024-11-03-00:00",
        "2024-11-03-01:00",
        "2024-11-03-01:00-0500",
        "2024-11-03-02:00",
        "2024-11-03-03:00",
    ]
    assert hourly.window("2024-11-03-01:00") == TimeWindow(
        at("2024-11-03T05:00+00:00"), at("2024-11-03T06:00+00:00")
    )
    assert hourly.window("2024-11-03-01:00-0500") == TimeWindow(
        at("2024-11-03T06:00+00:00"), at("2024-11-03T07:00+00:00")
    )


def test_new_york_spring_forward_has_no_key_for_the_skipped_hour() -> None:
    hourly = HourlyPartitionsDefinition(start_date="2024-03-01-00:00", timezone=NY)
    assert keys_of(hourly, "2024-03-10-00:00", "2024-03-10-04:00") == [
        "2024-03-10-00:00",
        "2024-03-10-01:00",
        "2024-03-10-03:00",
        "2024-03-10-04:00",
    ]
    with pytest.raises(InvalidPartitionKeyError):
        hourly.validate_key("2024-03-10-02:00")


def test_london_fall_back_keys() -> None:
    hourly = HourlyPartitionsDefinition(start_date="2024-10-01-00:00", timezone=LONDON)
    assert keys_of(hourly, "2024-10-27-00:00", "2024-10-27-02:00") == [
        "2024-10-27-00:00",
        "2024-10-27-01:00",
        "2024-10-27-01:00+0000",
        "2024-10-27-02:00",
    ]


# --- validation -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("2024/01/05", "%Y-%m-%d"),
        ("2024-1-5", "%Y-%m-%d"),
        ("2023-12-31", "2024-01-01"),
        ("2024-03-01", "2024-01-31"),
        ("", "%Y-%m-%d"),
    ],
)
def test_invalid_keys_name_the_key_the_format_and_the_bounds(key: str, reason: str) -> None:
    daily = DailyPartitionsDefinition(start_date="2024-01-01")
    with pytest.raises(InvalidPartitionKeyError) as caught:
        daily.validate_key(key, at("2024-02-01T00:00+00:00"))
    assert caught.value.value == key
    assert caught.value.field == "partition_key"
    assert reason in str(caught.value.allowed)
    assert repr(key) in caught.value.message


def test_an_offset_suffix_on_a_key_that_needs_none_is_not_canonical() -> None:
    hourly = HourlyPartitionsDefinition(start_date="2024-01-01-00:00", timezone=NY)
    with pytest.raises(InvalidPartitionKeyError):
        hourly.validate_key("2024-11-03-03:00-0500")
    with pytest.raises(InvalidPartitionKeyError):
        hourly.validate_key("2024-11-03-00:30")


def test_key_at_out_of_bounds() -> None:
    daily = DailyPartitionsDefinition(start_date="2024-01-01", end_date="2024-01-03")
    assert daily.key_at(1) == "2024-01-02"
    for index in (-1, 2):
        with pytest.raises(InvalidPartitionRangeError) as caught:
            daily.key_at(index)
        assert caught.value.field == "index"


@pytest.mark.parametrize(
    ("make", "error", "field"),
    [
        (
            lambda: DailyPartitionsDefinition(start_date="01/01/2024"),
            InvalidDefinitionError,
            "start",
        ),
        (
            lambda: DailyPartitionsDefinition(start_date="2024-01-01", end_date="x"),
            InvalidDefinitionError,
            "end",
        ),
        (
            lambda: DailyPartitionsDefinition(start_date="2024-01-05", end_date="2024-01-01"),
            InvalidDefinitionError,
            "end",
        ),
        (
            lambda: DailyPartitionsDefinition(start_date="2024-01-01", hour_offset=24),
            InvalidDefinitionError,
            "hour_offset",
        ),
        (
            lambda: HourlyPartitionsDefinition(start_date="2024-01-01-00:00", minute_offset=60),
            InvalidDefinitionError,
            "minute_offset",
        ),
        (
            lambda: WeeklyPartitionsDefinition(start_date="2024-01-01", day_offset=7),
            InvalidDefinitionError,
            "day_offset",
        ),
        (
            lambda: MonthlyPartitionsDefinition(start_date="2024-01-01", day_offset=29),
            InvalidDefinitionError,
            "day_offset",
        ),
        (
            lambda: TimeWindowPartitionsDefinition("0 * * * *", start="2024-01-01", fmt="%Y-%m-%d"),
            InvalidDefinitionError,
            "fmt",
        ),
        (
            lambda: DailyPartitionsDefinition(start_date="2024-01-01", timezone="Nowhere/City"),
            InvalidTimezoneError,
            "timezone",
        ),
        (
            lambda: TimeWindowPartitionsDefinition("0 0 * *", start="2024-01-01"),
            InvalidCronError,
            "cron",
        ),
    ],
)
def test_invalid_definitions_are_rejected(
    make: Callable[[], object], error: type[Exception], field: str
) -> None:
    with pytest.raises(error) as caught:
        make()
    assert getattr(caught.value, "field", None) == field


def test_start_may_be_a_datetime_naive_meaning_local() -> None:
    naive = DailyPartitionsDefinition(start_date=datetime(2024, 1, 1), timezone=NY)
    aware = DailyPartitionsDefinition(start_date=at("2024-01-01T00:00-05:00"), timezone=NY)
    assert naive == aware
    assert naive.first_key() == "2024-01-01"


# --- serialization ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "definition",
    [
        HourlyPartitionsDefinition(start_date="2024-01-01-00:00", timezone=NY, end_offset=1),
        DailyPartitionsDefinition(start_date="2024-01-01", end_date="2024-02-01", hour_offset=3),
        WeeklyPartitionsDefinition(start_date="2024-01-01", day_offset=3, timezone=LONDON),
        MonthlyPartitionsDefinition(start_date="2024-01-01", end_offset=-1),
        TimeWindowPartitionsDefinition(
            "*/15 * * * *", start=at("2024-01-01T00:00+00:00"), fmt="%Y%m%d%H%M"
        ),
    ],
)
def test_to_dict_round_trips_through_json(definition: TimeWindowPartitionsDefinition) -> None:
    data = json.loads(json.dumps(definition.to_dict()))
    assert data["type"] == "time_window"
    restored = partitions_def_from_dict(data)
    assert restored == definition
    assert restored.key_at(5) == definition.key_at(5)


# --- properties -----------------------------------------------------------------------


def brute_force_hourly_keys(tz: str, first: datetime, count: int) -> list[str]:
    """Whole-hour-offset zones tick every UTC hour; the second copy of a wall hour gets %z."""
    zone = ZoneInfo(tz)
    keys = []
    for hour in range(count):
        local = (first + timedelta(hours=hour)).astimezone(zone)
        keys.append(local.strftime("%Y-%m-%d-%H:%M") + (local.strftime("%z") if local.fold else ""))
    return keys


HOURLY_NY = HourlyPartitionsDefinition(start_date="2020-01-01-00:00", timezone=NY)
HOURLY_LONDON = HourlyPartitionsDefinition(start_date="2020-01-01-00:00", timezone=LONDON)
DAILY_NY = DailyPartitionsDefinition(start_date="2020-01-01", timezone=NY)


@settings(max_examples=200, deadline=None)
@given(
    definition=st.sampled_from([HOURLY_NY, HOURLY_LONDON, DAILY_NY]),
    index=st.integers(0, 6 * 365 * 24),
)
def test_key_at_and_index_of_are_inverse(
    definition: TimeWindowPartitionsDefinition, index: int
) -> None:
    if definition is DAILY_NY:
        index //= 24
    key = definition.key_at(index)
    assert definition.index_of(key) == index
    assert definition.key_at(definition.index_of(key)) == key
    window = definition.window(key)
    assert window.start < window.end
    assert definition.window(definition.key_at(index + 1)).start == window.end


@settings(max_examples=100, deadline=None)
@given(
    tz=st.sampled_from([NY, LONDON]), start=st.integers(0, 5 * 365 * 24), length=st.integers(0, 80)
)
def test_hourly_keys_match_a_brute_force_enumeration(tz: str, start: int, length: int) -> None:
    definition = HOURLY_NY if tz == NY else HOURLY_LONDON
    first = definition.window(definition.key_at(start)).start.astimezone(UTC)
    expected = brute_force_hourly_keys(tz, first, length)
    now = first + timedelta(hours=length)
    assert definition.count(now) - start == length
    assert list(definition.iter_keys(start, now)) == expected


@settings(max_examples=100, deadline=None)
@given(day=st.integers(0, 5 * 365), length=st.integers(0, 40))
def test_daily_keys_are_consecutive_local_dates(day: int, length: int) -> None:
    first = date(2020, 1, 1) + timedelta(days=day)
    now = datetime.combine(first + timedelta(days=length), datetime.min.time(), ZoneInfo(NY))
    expected = [(first + timedelta(days=i)).isoformat() for i in range(length)]
    assert DAILY_NY.count(now) - day == length
    assert list(DAILY_NY.iter_keys(day, now)) == expected
