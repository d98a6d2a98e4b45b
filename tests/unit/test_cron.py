"""Cron schedules in a time zone, with Dagster's daylight-saving rules (DESIGN §5)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import islice, pairwise
from zoneinfo import ZoneInfo

import pytest
from croniter import croniter
from hypothesis import given, settings
from hypothesis import strategies as st

from arco.cron import CronSchedule
from arco.errors import InvalidCronError, InvalidTimezoneError

NY = "America/New_York"
LONDON = "Europe/London"
LORD_HOWE = "Australia/Lord_Howe"
CHATHAM = "Pacific/Chatham"


def at(text: str) -> datetime:
    """An instant written with its UTC offset, e.g. ``2024-03-10T03:00-04:00``."""
    return datetime.fromisoformat(text)


def ticks(expr: str, tz: str, after: str, until: str) -> list[datetime]:
    return list(CronSchedule(expr, tz).iter_between(at(after), at(until)))


# --- the DESIGN examples, verbatim ----------------------------------------------------


def test_daily_tick_in_the_spring_gap_fires_when_the_clock_jumps_then_returns_to_its_time() -> None:
    assert ticks("30 2 * * *", NY, "2024-03-09T00:00-05:00", "2024-03-11T23:00-04:00") == [
        at("2024-03-09T02:30-05:00"),
        at("2024-03-10T03:00-04:00"),
        at("2024-03-11T02:30-04:00"),
    ]


def test_daily_tick_in_the_repeated_hour_fires_once_at_the_later_occurrence() -> None:
    assert ticks("30 1 * * *", NY, "2024-11-02T00:00-04:00", "2024-11-04T23:00-05:00") == [
        at("2024-11-02T01:30-04:00"),
        at("2024-11-03T01:30-05:00"),
        at("2024-11-04T01:30-05:00"),
    ]


def test_hourly_skips_the_missing_hour_in_spring() -> None:
    assert ticks("0 * * * *", NY, "2024-03-09T23:30-05:00", "2024-03-10T04:00-04:00") == [
        at("2024-03-10T00:00-05:00"),
        at("2024-03-10T01:00-05:00"),
        at("2024-03-10T03:00-04:00"),
        at("2024-03-10T04:00-04:00"),
    ]


def test_hourly_fires_in_both_copies_of_the_repeated_hour_keeping_its_minute() -> None:
    assert ticks("30 * * * *", NY, "2024-11-03T00:00-04:00", "2024-11-03T03:00-05:00") == [
        at("2024-11-03T00:30-04:00"),
        at("2024-11-03T01:30-04:00"),
        at("2024-11-03T01:30-05:00"),
        at("2024-11-03T02:30-05:00"),
    ]


# --- the same three rules in other zones -----------------------------------------------

DST_CASES = [
    # London: 01:00 GMT -> 02:00 BST on 2024-03-31; 02:00 BST -> 01:00 GMT on 2024-10-27.
    (
        "30 1 * * *",
        LONDON,
        "2024-03-30T12:00+00:00",
        "2024-04-01T12:00+01:00",
        ["2024-03-31T02:00+01:00", "2024-04-01T01:30+01:00"],
    ),
    (
        "30 1 * * *",
        LONDON,
        "2024-10-26T12:00+01:00",
        "2024-10-28T12:00+00:00",
        ["2024-10-27T01:30+00:00", "2024-10-28T01:30+00:00"],
    ),
    (
        "0 * * * *",
        LONDON,
        "2024-03-31T00:30+00:00",
        "2024-03-31T03:00+01:00",
        ["2024-03-31T02:00+01:00", "2024-03-31T03:00+01:00"],
    ),
    (
        "15 * * * *",
        LONDON,
        "2024-10-27T00:00+01:00",
        "2024-10-27T02:30+00:00",
        [
            "2024-10-27T00:15+01:00",
            "2024-10-27T01:15+01:00",
            "2024-10-27T01:15+00:00",
            "2024-10-27T02:15+00:00",
        ],
    ),
    # Lord Howe moves by 30 minutes: 02:00 -> 02:30 on 2024-10-06; 02:00 -> 01:30 on 2024-04-07.
    (
        "15 2 * * *",
        LORD_HOWE,
        "2024-10-05T12:00+10:30",
        "2024-10-07T12:00+11:00",
        ["2024-10-06T02:30+11:00", "2024-10-07T02:15+11:00"],
    ),
    (
        "0 * * * *",
        LORD_HOWE,
        "2024-10-06T00:30+10:30",
        "2024-10-06T04:00+11:00",
        ["2024-10-06T01:00+10:30", "2024-10-06T03:00+11:00", "2024-10-06T04:00+11:00"],
    ),
    (
        "45 * * * *",
        LORD_HOWE,
        "2024-10-06T00:50+10:30",
        "2024-10-06T03:00+11:00",
        ["2024-10-06T01:45+10:30", "2024-10-06T02:45+11:00"],
    ),
    (
        "45 1 * * *",
        LORD_HOWE,
        "2024-04-06T12:00+11:00",
        "2024-04-08T12:00+10:30",
        ["2024-04-07T01:45+10:30", "2024-04-08T01:45+10:30"],
    ),
    (
        "45 * * * *",
        LORD_HOWE,
        "2024-04-07T00:00+11:00",
        "2024-04-07T03:00+10:30",
        [
            "2024-04-07T00:45+11:00",
            "2024-04-07T01:45+11:00",
            "2024-04-07T01:45+10:30",
            "2024-04-07T02:45+10:30",
        ],
    ),
    (
        "0 * * * *",
        LORD_HOWE,
        "2024-04-07T00:30+11:00",
        "2024-04-07T03:00+10:30",
        ["2024-04-07T01:00+11:00", "2024-04-07T02:00+10:30", "2024-04-07T03:00+10:30"],
    ),
    # Chatham moves at 02:45: 02:45 -> 03:45 on 2024-09-29; 03:45 -> 02:45 on 2024-04-07.
    (
        "0 3 * * *",
        CHATHAM,
        "2024-09-28T12:00+12:45",
        "2024-09-30T12:00+13:45",
        ["2024-09-29T03:45+13:45", "2024-09-30T03:00+13:45"],
    ),
    (
        "0 * * * *",
        CHATHAM,
        "2024-09-29T01:30+12:45",
        "2024-09-29T05:00+13:45",
        ["2024-09-29T02:00+12:45", "2024-09-29T04:00+13:45", "2024-09-29T05:00+13:45"],
    ),
    (
        "0 3 * * *",
        CHATHAM,
        "2024-04-06T12:00+13:45",
        "2024-04-08T12:00+12:45",
        ["2024-04-07T03:00+12:45", "2024-04-08T03:00+12:45"],
    ),
    (
        "0 * * * *",
        CHATHAM,
        "2024-04-07T01:30+13:45",
        "2024-04-07T04:00+12:45",
        [
            "2024-04-07T02:00+13:45",
            "2024-04-07T03:00+13:45",
            "2024-04-07T03:00+12:45",
            "2024-04-07T04:00+12:45",
        ],
    ),
    # Several wall times inside one gap collapse into the single jump instant.
    (
        "*/20 2 * * *",
        NY,
        "2024-03-10T00:00-05:00",
        "2024-03-10T12:00-04:00",
        ["2024-03-10T03:00-04:00"],
    ),
    # A tick at the jump instant itself is not doubled by the gap rule.
    (
        "30 2,3 * * *",
        NY,
        "2024-03-10T00:00-05:00",
        "2024-03-10T12:00-04:00",
        ["2024-03-10T03:00-04:00", "2024-03-10T03:30-04:00"],
    ),
    (
        "0 2,3 * * *",
        NY,
        "2024-03-10T00:00-05:00",
        "2024-03-10T12:00-04:00",
        ["2024-03-10T03:00-04:00"],
    ),
]


@pytest.mark.parametrize(("expr", "tz", "after", "until", "expected"), DST_CASES)
def test_dst_rules_hold_literally_in_every_zone(
    expr: str, tz: str, after: str, until: str, expected: list[str]
) -> None:
    assert ticks(expr, tz, after, until) == [at(x) for x in expected]


# --- stepping one tick at a time ---------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "tz", "instant", "expected"),
    [
        ("30 2 * * *", NY, "2024-03-10T01:59-05:00", "2024-03-10T03:00-04:00"),
        ("30 2 * * *", NY, "2024-03-10T03:00-04:00", "2024-03-11T02:30-04:00"),
        ("30 1 * * *", NY, "2024-11-03T01:30-04:00", "2024-11-03T01:30-05:00"),
        ("0 * * * *", NY, "2024-11-03T01:00-04:00", "2024-11-03T01:00-05:00"),
        ("*/15 * * * *", NY, "2024-11-03T01:50-04:00", "2024-11-03T01:00-05:00"),
        ("0 0 * * *", "UTC", "2024-01-01T00:00:00.5+00:00", "2024-01-02T00:00+00:00"),
        ("0 0 1 * *", "UTC", "2024-01-31T23:59+00:00", "2024-02-01T00:00+00:00"),
        ("0 0 29 2 *", "UTC", "2024-03-01T00:00+00:00", "2028-02-29T00:00+00:00"),
        ("0 9 * * 1-5", "UTC", "2024-01-05T10:00+00:00", "2024-01-08T09:00+00:00"),
        ("0 0 L * *", "UTC", "2024-02-01T00:00+00:00", "2024-02-29T00:00+00:00"),
        ("0 0 * * 1#2", "UTC", "2024-01-01T00:00+00:00", "2024-01-08T00:00+00:00"),
        ("0 0 * * L5", "UTC", "2024-01-01T00:00+00:00", "2024-01-26T00:00+00:00"),
        ("0 0 13 * 5", "UTC", "2024-09-07T00:00+00:00", "2024-09-13T00:00+00:00"),
        ("0 0 13 * 5", "UTC", "2024-09-13T00:00+00:00", "2024-09-20T00:00+00:00"),
        ("* * * * * 30", "UTC", "2024-01-01T00:00+00:00", "2024-01-01T00:00:30+00:00"),
        ("@daily", NY, "2024-01-01T12:00-05:00", "2024-01-02T00:00-05:00"),
        ("@hourly", "UTC", "2024-01-01T12:00+00:00", "2024-01-01T13:00+00:00"),
    ],
)
def test_next_after_is_strictly_after(expr: str, tz: str, instant: str, expected: str) -> None:
    result = CronSchedule(expr, tz).next_after(at(instant))
    assert result == at(expected)
    assert result.tzinfo is UTC


@pytest.mark.parametrize(
    ("expr", "tz", "instant", "expected"),
    [
        ("30 2 * * *", NY, "2024-03-10T03:00-04:00", "2024-03-10T03:00-04:00"),
        ("30 2 * * *", NY, "2024-03-10T02:59:59-04:00", "2024-03-09T02:30-05:00"),
        ("30 1 * * *", NY, "2024-11-03T01:45-04:00", "2024-11-02T01:30-04:00"),
        ("0 * * * *", NY, "2024-11-03T01:10-05:00", "2024-11-03T01:00-05:00"),
        ("0 * * * *", NY, "2024-11-03T01:59-04:00", "2024-11-03T01:00-04:00"),
        ("0 0 29 2 *", "UTC", "2027-01-01T00:00+00:00", "2024-02-29T00:00+00:00"),
    ],
)
def test_previous_at_or_before_includes_the_instant_itself(
    expr: str, tz: str, instant: str, expected: str
) -> None:
    result = CronSchedule(expr, tz).previous_at_or_before(at(instant))
    assert result == at(expected)
    assert result.tzinfo is UTC


def test_count_between_is_half_open_and_matches_iteration() -> None:
    schedule = CronSchedule("0 * * * *", NY)
    start, end = at("2024-11-03T00:00-04:00"), at("2024-11-04T00:00-05:00")
    assert schedule.count_between(start, end) == 25
    assert schedule.nth_at_or_after(start, 0) == start
    assert schedule.nth_at_or_after(start, 24) == at("2024-11-03T23:00-05:00")


def test_a_year_of_hourly_ticks_has_8784_instants_in_a_leap_year() -> None:
    schedule = CronSchedule("0 * * * *", NY)
    year = list(schedule.iter_between(at("2023-12-31T23:59-05:00"), at("2024-12-31T23:59-05:00")))
    assert len(year) == 366 * 24
    assert all(b - a == timedelta(hours=1) for a, b in pairwise(year))


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("0 * * * *", True),
        ("*/5 * * * *", True),
        ("* * * * * 15", True),
        ("0 0-23 * * *", True),
        ("0 0 * * *", False),
        ("0 */2 * * *", False),
        ("* 3 * * *", False),
        ("@hourly", True),
        ("@weekly", False),
    ],
)
def test_is_hourly_or_finer(expr: str, expected: bool) -> None:
    assert CronSchedule(expr).is_hourly_or_finer is expected


def test_timezone_defaults_to_utc_and_equality_is_by_value() -> None:
    assert CronSchedule("0 0 * * *") == CronSchedule("0 0 * * *", "UTC")
    assert CronSchedule("0 0 * * *") != CronSchedule("0 0 * * *", NY)
    assert hash(CronSchedule("0 0 * * *")) == hash(CronSchedule("0 0 * * *", "UTC"))


# --- validation -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "expr",
    [
        "",
        "* * * *",
        "* * * * * * *",
        "61 * * * *",
        "0 24 * * *",
        "0 0 0 * *",
        "0 0 * 13 *",
        "*/0 * * * *",
        "nonsense",
        "@fortnightly",
        "0 0 15W * *",
        "H * * * *",
        "H/15 * * * *",
        "0 0 31 2 *",
        "0 0 1 * 1#2",
    ],
)
def test_invalid_cron_is_rejected_with_what_is_valid(expr: str) -> None:
    with pytest.raises(InvalidCronError) as caught:
        CronSchedule(expr)
    error = caught.value
    assert error.field == "cron"
    assert error.value == expr
    assert error.allowed is not None
    assert "5 fields" in str(error.allowed)
    assert "minute hour day-of-month month day-of-week" in str(error.allowed)


@pytest.mark.parametrize("tz", ["Mars/Olympus", "", "../../etc/passwd", "america/new york"])
def test_invalid_timezone_is_rejected(tz: str) -> None:
    with pytest.raises(InvalidTimezoneError) as caught:
        CronSchedule("0 0 * * *", tz)
    assert caught.value.field == "timezone"
    assert caught.value.value == tz
    assert "IANA" in str(caught.value.allowed)


def test_naive_instants_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        CronSchedule("0 0 * * *").next_after(datetime(2024, 1, 1))


# --- properties against a brute-force reference -------------------------------------------

ZONES = [NY, LONDON, LORD_HOWE, CHATHAM, "UTC", "Asia/Kolkata"]
EXPRS = [
    "0 * * * *",
    "30 * * * *",
    "*/20 * * * *",
    "15 1 * * *",
    "30 2 * * *",
    "0 3 * * *",
    "45 1,2,3 * * *",
    "*/30 2 * * *",
    "0 0 * * *",
    "10 2 * * 0",
    "0 1 1 * *",
    "5 */2 * * *",
]
# A day on each side of every 2024 transition of the zones above, plus a quiet week.
DAYS = [
    "2024-03-09",
    "2024-03-30",
    "2024-04-06",
    "2024-09-28",
    "2024-10-05",
    "2024-10-26",
    "2024-11-02",
    "2024-06-10",
]


def brute_force(expr: str, tz: str, first: datetime, last: datetime) -> list[datetime]:
    """Wall times matched by croniter on naive datetimes, placed by the three rules by hand."""
    zone = ZoneInfo(tz)
    hourly = expr.split()[1] == "*"
    instants: set[datetime] = set()
    start = (first.astimezone(zone) - timedelta(hours=3)).replace(tzinfo=None)
    end = (last.astimezone(zone) + timedelta(hours=3)).replace(tzinfo=None)
    walls = croniter(expr, start)
    wall = walls.get_next(datetime)
    while wall <= end:
        instants.update(place(wall, zone, hourly))
        wall = walls.get_next(datetime)
    return sorted(i for i in instants if first < i <= last)


def place(wall: datetime, zone: ZoneInfo, hourly: bool) -> list[datetime]:
    fold0 = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    fold1 = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    if fold0 == fold1:
        return [fold0]
    if fold0 < fold1:  # the wall time happens twice
        return [fold0, fold1] if hourly else [fold1]
    if hourly:  # the wall time never happens
        return []
    return [first_instant_with_new_offset(fold1, fold0, zone)]


def first_instant_with_new_offset(lo: datetime, hi: datetime, zone: ZoneInfo) -> datetime:
    """Scan minute by minute for the jump (a gap's wall time maps to the jump instant)."""
    offset_after = hi.astimezone(zone).utcoffset()
    instant = lo
    while instant.astimezone(zone).utcoffset() != offset_after:
        instant += timedelta(seconds=60)
    return instant


@settings(max_examples=150, deadline=None)
@given(
    expr=st.sampled_from(EXPRS),
    tz=st.sampled_from(ZONES),
    day=st.sampled_from(DAYS),
    hour=st.integers(0, 23),
)
def test_iteration_matches_a_brute_force_enumeration(
    expr: str, tz: str, day: str, hour: int
) -> None:
    zone = ZoneInfo(tz)
    first = datetime.fromisoformat(day).replace(hour=hour, tzinfo=zone).astimezone(UTC)
    last = first + timedelta(days=2)
    expected = brute_force(expr, tz, first, last)
    schedule = CronSchedule(expr, tz)
    assert list(schedule.iter_between(first, last)) == expected
    assert schedule.count_between(first + timedelta(seconds=1), last + timedelta(seconds=1)) == len(
        expected
    )


@settings(max_examples=200, deadline=None)
@given(
    expr=st.sampled_from(EXPRS),
    tz=st.sampled_from(ZONES),
    seconds=st.integers(0, 3 * 365 * 86400),
)
def test_next_after_is_strictly_increasing_and_consistent_with_previous(
    expr: str, tz: str, seconds: int
) -> None:
    schedule = CronSchedule(expr, tz)
    instant = datetime(2023, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds)
    first = schedule.next_after(instant)
    second = schedule.next_after(first)
    assert instant < first < second
    assert schedule.previous_at_or_before(first) == first
    assert schedule.previous_at_or_before(second - timedelta(microseconds=1)) == first
    assert schedule.previous_at_or_before(instant) < first
    assert schedule.count_between(first, second) == 1


SYNTAX = [
    "*/7 * * * *",
    "0 9-17/2 * * 1-5",
    "30 6 1,15 * *",
    "0 0 L * *",
    "0 0 1,L 2 *",
    "0 12 * * 1#2",
    "0 12 * * L5",
    "0 0 13 * 5",
    "0 0 29 2 *",
    "0 0 * jan,jul sun",
    "15 3 */10 * *",
    "* * * * * */20",
    "0 0 * * 7",
    "0 6 * * thu",
    "0 0 1 mar *",
]


@settings(max_examples=300, deadline=None)
@given(expr=st.sampled_from(SYNTAX), seconds=st.integers(0, 40 * 365 * 86400))
def test_wall_clock_matching_agrees_with_croniter_in_utc(expr: str, seconds: int) -> None:
    instant = datetime(2000, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds)
    walls = croniter(expr, instant.replace(tzinfo=None))
    expected = [walls.get_next(datetime).replace(tzinfo=UTC) for _ in range(3)]
    schedule = CronSchedule(expr)
    assert list(islice(schedule.iter_from(instant + timedelta(seconds=1)), 3)) == expected
    assert schedule.next_after(instant) == expected[0]
