"""Cron schedules in an IANA time zone, stepped with Dagster's daylight-saving rules.

Cron fields are matched on naive local wall-clock time; each matching wall time is then placed
on the UTC time line (DESIGN §5):

(a) a daily-or-coarser match that does not exist (spring forward) fires once, at the instant
    the clock jumps; (b) one that happens twice (fall back) fires once, at the later
    occurrence; (c) an hourly-or-finer cron (every hour of the day matches) skips wall times that
    do not exist and fires in both copies of a repeated one.

The UTC line is cut into stretches of constant UTC offset; inside one, wall time and UTC differ
by a constant, so matches are counted and indexed arithmetically (no per-tick croniter call).
Syntax: croniter's, with 5 fields or 6 with the seconds field LAST; ``W`` and ``H`` are refused.
"""

from __future__ import annotations

import calendar
import re
from bisect import bisect_left
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterError, croniter

from arco.errors import InvalidCronError, InvalidTimezoneError

CRON_SYNTAX = (
    "5 fields: minute hour day-of-month month day-of-week, or 6 with seconds as the last field"
    " (croniter's order); or @hourly, @daily, @midnight, @weekly, @monthly, @yearly, @annually"
)
TIMEZONE_SYNTAX = "an IANA time zone name, e.g. 'UTC' or 'America/New_York'"
_ALIASES = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}
DAY = 86_400
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_LAST_DAY = date(9999, 12, 1).toordinal() - _EPOCH_ORDINAL
_LAST_INSTANT = (date(9997, 1, 1).toordinal() - _EPOCH_ORDINAL) * DAY
_PROBE = DAY  # zone offsets are sampled daily, then bisected to the second
_CYCLE = 146_097  # days in 400 Gregorian years, after which the calendar repeats
_HASHED = re.compile(r"(?<![a-z])h(?![a-z])", re.IGNORECASE)  # "H", "H/5" but not "thu"


def _invalid(expr: str, why: str) -> InvalidCronError:
    return InvalidCronError(
        f"invalid cron expression {expr!r}: {why}; expected {CRON_SYNTAX}",
        field="cron",
        value=expr,
        allowed=CRON_SYNTAX,
    )


@dataclass(frozen=True)
class _TimesOfDay:
    """The matching seconds of a day, kept as three sorted axes rather than one long list."""

    hours: tuple[int, ...]
    minutes: tuple[int, ...]
    seconds: tuple[int, ...]
    per_hour: int = field(init=False)
    size: int = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "per_hour", len(self.minutes) * len(self.seconds))
        object.__setattr__(self, "size", len(self.hours) * self.per_hour)

    def count_before(self, sod: int) -> int:
        """How many matching seconds of the day are strictly before ``sod``."""
        hour, rest = divmod(sod, 3600)
        minute, second = divmod(rest, 60)
        i = bisect_left(self.hours, hour)
        if i == len(self.hours) or self.hours[i] != hour:
            return i * self.per_hour
        j = bisect_left(self.minutes, minute)
        if j == len(self.minutes) or self.minutes[j] != minute:
            return i * self.per_hour + j * len(self.seconds)
        return i * self.per_hour + j * len(self.seconds) + bisect_left(self.seconds, second)

    def at(self, k: int) -> int:
        """The ``k``-th matching second of the day."""
        i, rest = divmod(k, self.per_hour)
        j, s = divmod(rest, len(self.seconds))
        return self.hours[i] * 3600 + self.minutes[j] * 60 + self.seconds[s]


@dataclass(frozen=True)
class _DayRule:
    """Which calendar days match: months, day-of-month, day-of-week (OR-ed when both are set)."""

    months: frozenset[int]
    doms: frozenset[int] | None  # None: any day of the month
    last_dom: bool
    dows: frozenset[int] | None  # None: any weekday (0 = Sunday)
    nth_dows: frozenset[tuple[int, int]]  # (weekday, n); n = -1 means the last one
    every_day: bool = field(init=False)
    weekly: bool = field(init=False)  # only plain weekdays restrict: matches repeat every 7 days
    _months: dict[tuple[int, int, int], tuple[int, ...]] = field(
        init=False, default_factory=dict, compare=False, repr=False
    )

    def __post_init__(self) -> None:
        all_months = len(self.months) == 12 and self.doms is None
        object.__setattr__(self, "every_day", all_months and self.dows is None)
        object.__setattr__(self, "weekly", all_months and not self.nth_dows and bool(self.dows))

    def month_days(self, month: int, month_len: int, first_dow: int) -> tuple[int, ...]:
        """Matching days of a month, which depend only on its number, length and first weekday."""
        key = (month, month_len, first_dow)
        if key not in self._months:
            self._months[key] = tuple(
                d
                for d in range(1, month_len + 1)
                if self.matches(month, d, month_len, (first_dow + d - 1) % 7)
            )
        return self._months[key]

    def matches(self, month: int, day: int, month_len: int, dow: int) -> bool:
        if month not in self.months:
            return False
        dom_ok = self.doms is not None and (
            day in self.doms or (self.last_dom and day == month_len)
        )
        dow_ok = self.dows is not None and (dow in self.dows or self._nth_ok(day, month_len, dow))
        if self.doms is None:
            return self.dows is None or dow_ok
        return dom_ok or dow_ok  # cron's rule: both restricted means either may match

    def _nth_ok(self, day: int, month_len: int, dow: int) -> bool:
        return any(
            w == dow and (n == (day - 1) // 7 + 1 if n > 0 else day + 7 > month_len)
            for w, n in self.nth_dows
        )


def _months_from(rule: _DayRule, day: int) -> Iterator[tuple[int, tuple[int, ...]]]:
    """(epoch day of the 1st, matching days) for the month holding ``day`` and every later one."""
    first = date.fromordinal(day + _EPOCH_ORDINAL).replace(day=1)
    year, month, start = first.year, first.month, first.toordinal() - _EPOCH_ORDINAL
    while start <= _LAST_DAY:
        month_len = calendar.monthrange(year, month)[1]
        yield start, rule.month_days(month, month_len, (start + 4) % 7)
        start += month_len
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    raise OverflowError("cron expression has no match before the year 10000")


@dataclass(frozen=True)
class _WallClock:
    """Matches of a cron on naive wall-clock seconds since 1970-01-01T00:00 (no zone)."""

    days: _DayRule
    times: _TimesOfDay

    def day_ok(self, day: int) -> bool:
        if self.days.every_day:
            return True
        d = date.fromordinal(day + _EPOCH_ORDINAL)
        month_len = calendar.monthrange(d.year, d.month)[1]
        return self.days.matches(d.month, d.day, month_len, (day + 4) % 7)

    def count_days(self, d0: int, d1: int) -> int:
        """Matching days in ``[d0, d1)``."""
        if d1 <= d0:
            return 0
        if self.days.every_day:
            return d1 - d0
        if self.days.weekly and self.days.dows:
            weeks, rest = divmod(d1 - d0, 7)
            tail = sum(1 for d in range(d0, d0 + rest) if (d + 4) % 7 in self.days.dows)
            return weeks * len(self.days.dows) + tail
        total = 0
        for start, matching in _months_from(self.days, d0):
            if start >= d1:
                break
            total += bisect_left(matching, d1 - start + 1) - bisect_left(matching, d0 - start + 1)
        return total

    def nth_day(self, d0: int, j: int) -> int:
        """The ``j``-th matching day at or after ``d0``."""
        if self.days.every_day:
            return d0 + j
        if self.days.weekly and self.days.dows:
            offsets = [k for k in range(7) if (d0 + k + 4) % 7 in self.days.dows]
            weeks, k = divmod(j, len(offsets))
            return d0 + 7 * weeks + offsets[k]
        for start, matching in _months_from(self.days, d0):
            i = bisect_left(matching, d0 - start + 1)
            if j < len(matching) - i:
                return start + matching[i + j] - 1
            j -= len(matching) - i
        raise AssertionError("unreachable: _months_from raises at its end")

    def count(self, x: int, y: int) -> int:
        """Matching wall seconds in ``[x, y)``."""
        if y <= x:
            return 0
        (dx, sx), (dy, sy), t = divmod(x, DAY), divmod(y, DAY), self.times
        if dx == dy:
            return t.count_before(sy) - t.count_before(sx) if self.day_ok(dx) else 0
        head = t.size - t.count_before(sx) if self.day_ok(dx) else 0
        tail = t.count_before(sy) if self.day_ok(dy) else 0
        return head + self.count_days(dx + 1, dy) * t.size + tail

    def nth(self, x: int, k: int) -> int:
        """The ``k``-th (from 0) matching wall second at or after ``x``."""
        (dx, sx), t = divmod(x, DAY), self.times
        if self.day_ok(dx):
            first = t.count_before(sx)
            if k < t.size - first:
                return dx * DAY + t.at(first + k)
            k -= t.size - first
        weeks, r = divmod(k, t.size)
        return self.nth_day(dx + 1, weeks) * DAY + t.at(r)


def _field_values(values: Sequence[int | str], low: int, high: int) -> tuple[int, ...]:
    return tuple(range(low, high + 1)) if values == ["*"] else tuple(sorted(int(v) for v in values))


def _parse(expr: str) -> _WallClock:
    """Validate with croniter, then keep its expanded fields in our arithmetic form."""
    text = _ALIASES.get(expr.strip().lower(), expr)
    parts = text.split()
    if len(parts) not in (5, 6):
        raise _invalid(expr, f"found {len(parts)} fields")
    if "w" in parts[2].lower():
        raise _invalid(expr, "'W' (nearest weekday) is not supported")
    if any(_HASHED.search(part) for part in parts):
        raise _invalid(expr, "'H' (hashed values) is not supported")
    try:
        expanded, nth = croniter.expand(" ".join(parts))
    except (CroniterError, ValueError, KeyError, TypeError, IndexError) as error:
        raise _invalid(expr, str(error)) from error
    minute, hour, dom, month, dow = expanded[:5]
    if nth and dom != ["*"]:
        raise _invalid(expr, "day-of-month cannot be combined with '#' or 'L' weekdays")
    days = _DayRule(
        months=frozenset(_field_values(month, 1, 12)),
        doms=None if dom == ["*"] else frozenset(int(d) for d in dom if d != "l"),
        last_dom="l" in dom,
        dows=None if dow == ["*"] else frozenset(int(d) for d in dow if d != "l" and d not in nth),
        nth_dows=frozenset((w, -1 if n == "l" else int(n)) for w, ns in nth.items() for n in ns),
    )
    seconds = _field_values(expanded[5], 0, 59) if len(expanded) == 6 else (0,)
    wall = _WallClock(
        days, _TimesOfDay(_field_values(hour, 0, 23), _field_values(minute, 0, 59), seconds)
    )
    # The calendar repeats every 400 years: a day rule that matches nothing there never does.
    start = date(2000, 1, 1).toordinal() - _EPOCH_ORDINAL
    if wall.count_days(start, start + _CYCLE) == 0:
        raise _invalid(expr, "it never matches a calendar day")
    return wall


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as error:
        raise InvalidTimezoneError(
            f"unknown time zone {name!r}: expected {TIMEZONE_SYNTAX}",
            field="timezone",
            value=name,
            allowed=TIMEZONE_SYNTAX,
        ) from error


def _instant(seconds: int) -> datetime:
    return _EPOCH + timedelta(seconds=seconds)


def _offset(zone: ZoneInfo, seconds: int) -> int:
    delta = _instant(seconds).astimezone(zone).utcoffset()
    return 0 if delta is None else int(delta.total_seconds())


def _seconds(instant: datetime) -> tuple[int, bool]:
    """Floor of an aware instant in epoch seconds, and whether it had a fraction of a second."""
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"instant must be timezone-aware, got {instant!r}")
    whole, rest = divmod(instant - _EPOCH, timedelta(seconds=1))
    return whole, bool(rest)


def _year_start(year: int) -> int:
    return (date(year, 1, 1).toordinal() - _EPOCH_ORDINAL) * DAY


@lru_cache(maxsize=65_536)
def _transitions(zone: ZoneInfo, year: int) -> tuple[tuple[int, int], ...]:
    """(instant, new offset) of each offset change in ``(Jan 1 of year, Jan 1 of year+1]`` UTC.

    zoneinfo has no public transition list, so offsets are sampled once a day and each change
    is bisected to the second; two changes that cancel out within one day would be missed.
    """
    found: list[tuple[int, int]] = []
    p, end = _year_start(year), _year_start(year + 1)
    before = _offset(zone, p)
    while p < end:
        q = min(p + _PROBE, end)
        while _offset(zone, q) != before:
            lo, hi = p, q  # invariant: offset(lo) == before != offset(hi)
            while hi - lo > 1:
                mid = (lo + hi) // 2
                lo, hi = (mid, hi) if _offset(zone, mid) == before else (lo, mid)
            before = _offset(zone, hi)
            found.append((hi, before))
            p = hi
        p = q
    return tuple(found)


def _next_transition(zone: ZoneInfo, after: int) -> tuple[int, int]:
    """The first offset change after ``after``, or a no-op boundary two years on if none."""
    year = _instant(after).year
    for y in (year, year + 1):
        for instant, offset in _transitions(zone, y):
            if instant > after:
                return instant, offset
    boundary = _year_start(year + 2)
    return boundary, _offset(zone, boundary)


def _stretches(zone: ZoneInfo, start: int) -> Iterator[tuple[int, int, int, int, int]]:
    """Constant-offset stretches from ``start``: (start, end, offset, offset before, after)."""
    offset, before = _offset(zone, start), _offset(zone, start - 1)
    while start < _LAST_INSTANT:
        end, after = _next_transition(zone, start)
        yield start, end, offset, before, after
        start, before, offset = end, offset, after
    raise OverflowError("cron iteration went past the year 9996")


@dataclass(frozen=True)
class CronSchedule:
    """A cron expression in a time zone; instants in and out are aware (out: UTC)."""

    expr: str
    timezone: str = "UTC"
    _wall: _WallClock = field(init=False, repr=False, compare=False)
    _zone: ZoneInfo = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_wall", _parse(self.expr))
        object.__setattr__(self, "_zone", _zone(self.timezone))

    @property
    def is_hourly_or_finer(self) -> bool:
        """Every hour of the day matches: rule (c) applies instead of rules (a) and (b)."""
        return len(self._wall.times.hours) == 24

    @property
    def tzinfo(self) -> ZoneInfo:
        """The schedule's zone, for formatting its ticks as local times."""
        return self._zone

    def next_after(self, instant: datetime) -> datetime:
        """The first tick strictly after ``instant``."""
        return _instant(self._nth(_seconds(instant)[0] + 1, 0))

    def nth_at_or_after(self, instant: datetime, n: int) -> datetime:
        """The ``n``-th tick (from 0) at or after ``instant``."""
        whole, fraction = _seconds(instant)
        return _instant(self._nth(whole + fraction, n))

    def previous_at_or_before(self, instant: datetime) -> datetime:
        """The last tick at or before ``instant``."""
        end = _seconds(instant)[0] + 1
        span = 2 * DAY
        while True:  # widen the look-back until it holds a tick; a cron ticks every 400 years
            span = min(span, _CYCLE * DAY)
            count = self._count(end - span, end)
            if count:
                return _instant(self._nth(end - span, count - 1))
            if span == _CYCLE * DAY:
                raise OverflowError(f"{self.expr!r} has no tick in the 400 years to {instant}")
            span *= 4

    def count_between(self, start: datetime, end: datetime) -> int:
        """Ticks in ``[start, end)``, counted without iterating."""
        (a, a_frac), (b, b_frac) = _seconds(start), _seconds(end)
        return self._count(a + a_frac, b + b_frac)

    def iter_between(self, start: datetime, end: datetime) -> Iterator[datetime]:
        """Ticks in ``(start, end]``, oldest first."""
        return self._iter(_seconds(start)[0] + 1, _seconds(end)[0] + 1)

    def iter_from(self, start: datetime) -> Iterator[datetime]:
        """Ticks at or after ``start``, without end."""
        whole, fraction = _seconds(start)
        return self._iter(whole + fraction, None)

    def _walls(
        self, start: int, end: int, offset: int, before: int, after: int
    ) -> tuple[bool, int, int]:
        """In one stretch: is there a gap tick at its start, and which walls ``[lo, hi)`` fire."""
        if self.is_hourly_or_finer:  # rule (c): every instant whose wall time matches
            return False, start + offset, end + offset
        # Rule (a): wall times skipped by a jump at ``start`` all fire at ``start``, once
        # (unless the first wall time after the jump matches and fires there anyway).
        gap = (
            before < offset
            and self._wall.count(start + before, start + offset) > 0
            and self._wall.count(start + offset, start + offset + 1) == 0
        )
        # Rule (b): wall times repeated after ``end`` fire in the next stretch, not here.
        return gap, start + offset, end + min(offset, after)

    def _count(self, a: int, b: int) -> int:
        total = 0
        for start, end, offset, before, after in _stretches(self._zone, a):
            if start >= b:
                return total
            gap, lo, hi = self._walls(start, end, offset, before, after)
            total += gap + self._wall.count(lo, min(hi, b + offset))
        return total

    def _nth(self, a: int, k: int) -> int:
        for start, end, offset, before, after in _stretches(self._zone, a):
            gap, lo, hi = self._walls(start, end, offset, before, after)
            if gap:
                if k == 0:
                    return start
                k -= 1
            if lo < hi:
                wall = self._wall.nth(lo, k)
                if wall < hi:
                    return wall - offset
                k -= self._wall.count(lo, hi)
        raise AssertionError("unreachable: _stretches raises at its end")

    def _iter(self, a: int, b: int | None) -> Iterator[datetime]:
        for start, end, offset, before, after in _stretches(self._zone, a):
            if b is not None and start >= b:
                return
            gap, lo, hi = self._walls(start, end, offset, before, after)
            if gap:
                yield _instant(start)
            hi = hi if b is None else min(hi, b + offset)
            wall = self._wall.nth(lo, 0) if lo < hi else hi
            while wall < hi:
                yield _instant(wall - offset)
                wall = self._wall.nth(wall + 1, 0)
