"""Partitions that are the windows between consecutive cron ticks, keyed like Dagster's.

Partition ``i`` is ``[tick_i, tick_i+1)`` where tick_0 is the first tick at or after ``start``;
its key is tick_i formatted with ``fmt`` in the definition's zone.  Counting and indexing go
through ``CronSchedule.count_between``/``nth_at_or_after``, so a range of a million hourly
partitions is two numbers, not a list.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import NamedTuple
from zoneinfo import ZoneInfo

from arco.cron import CronSchedule
from arco.errors import InvalidDefinitionError
from arco.partitions.definition import JsonValue, PartitionsDefinition

DEFAULT_DATE_FORMAT = "%Y-%m-%d"
DEFAULT_HOURLY_FORMAT = "%Y-%m-%d-%H:%M"
_EPSILON = timedelta(microseconds=1)
_SAMPLE = 8  # ticks formatted at definition time to catch a format that merges partitions


class TimeWindow(NamedTuple):
    """``[start, end)`` as UTC instants.

    Not local times: Python compares and subtracts two datetimes of the same zone on their
    wall clocks, ignoring ``fold``, so a 23-hour DST day would look 24 hours long.
    """

    start: datetime
    end: datetime


@dataclass(frozen=True, init=False)
class TimeWindowPartitionsDefinition(PartitionsDefinition):
    """Windows between ticks of ``cron_schedule`` from ``start`` (UTC) until ``end`` or now."""

    cron_schedule: str
    start: datetime
    end: datetime | None
    timezone: str
    fmt: str
    end_offset: int
    _cron: CronSchedule = field(compare=False, repr=False)
    _first: datetime = field(compare=False, repr=False)

    def __init__(
        self,
        cron_schedule: str,
        start: datetime | str,
        end: datetime | str | None = None,
        timezone: str = "UTC",
        fmt: str | None = None,
        end_offset: int = 0,
    ) -> None:
        cron = CronSchedule(cron_schedule, timezone)
        fmt = fmt or (DEFAULT_HOURLY_FORMAT if cron.is_hourly_or_finer else DEFAULT_DATE_FORMAT)
        start_at = _bound(start, "start", fmt, cron.tzinfo)
        end_at = None if end is None else _bound(end, "end", fmt, cron.tzinfo)
        if end_at is not None and end_at <= start_at:
            raise InvalidDefinitionError(
                f"end {end_at.isoformat()} is not after start {start_at.isoformat()}",
                field="end",
                value=end_at.isoformat(),
                allowed=f"an instant after {start_at.isoformat()}",
            )
        object.__setattr__(self, "cron_schedule", cron_schedule)
        object.__setattr__(self, "start", start_at)
        object.__setattr__(self, "end", end_at)
        object.__setattr__(self, "timezone", timezone)
        object.__setattr__(self, "fmt", fmt)
        object.__setattr__(self, "end_offset", end_offset)
        object.__setattr__(self, "_cron", cron)
        object.__setattr__(self, "_first", cron.nth_at_or_after(start_at, 0))
        self._check_format_separates_windows()

    def size(self, now: datetime | None = None) -> int | None:
        # Dagster's bounds: windows that ended by now, plus end_offset more (fewer if
        # negative), never one that ends after ``end``.
        bounds = []
        if now is not None:
            bounds.append(self._ended_by(now) + max(self.end_offset, 0))
        if self.end is not None:
            bounds.append(self._ended_by(self.end))
        if not bounds:
            return None
        return max(0, min(bounds) + min(self.end_offset, 0))

    def index_of(self, key: str, now: datetime | None = None) -> int:
        return self._locate(key, now)[0]

    def iter_keys(self, start: int = 0, now: datetime | None = None) -> Iterator[str]:
        start = max(start, 0)
        size = self.size(now)
        if size is not None and start >= size:
            return iter(())
        ticks = self._cron.iter_from(self._cron.nth_at_or_after(self._first, start))
        keys = map(self._format, ticks)
        return keys if size is None else islice(keys, size - start)

    def window(self, key: str) -> TimeWindow:
        """The UTC window ``[start, end)`` of a partition key."""
        tick = self._locate(key, None)[1]
        return TimeWindow(tick, self._cron.next_after(tick))

    def describe(self, now: datetime | None = None) -> str:
        size = self.size(now)
        if size is None:
            bounds = f"from {self.first_key()!r} on"
        elif size == 0:
            bounds = "none yet (the first partition has not ended)"
        else:
            bounds = f"from {self.first_key()!r} to {self.last_key(now)!r}"
        return f"a key in format {self.fmt!r} ({self.timezone}) {bounds}"

    def to_dict(self) -> dict[str, JsonValue]:
        return {
            "type": "time_window",
            "cron_schedule": self.cron_schedule,
            "start": self.start.isoformat(),
            "end": None if self.end is None else self.end.isoformat(),
            "timezone": self.timezone,
            "fmt": self.fmt,
            "end_offset": self.end_offset,
        }

    def _locate(self, key: str, now: datetime | None) -> tuple[int, datetime]:
        """The index and first tick of a key, checked against the bounds at ``now``."""
        tick = self._tick_of(key, now)
        index = self._cron.count_between(self._first, tick)
        size = self.size(now)
        if size is not None and index >= size:
            raise self._invalid_key(key, "it is after the last partition", now)
        return index, tick

    def _ended_by(self, instant: datetime) -> int:
        """How many windows end at or before ``instant``: the ticks in ``(first, instant]``."""
        return self._cron.count_between(self._first + _EPSILON, instant + _EPSILON)

    def _format(self, tick: datetime) -> str:
        local = tick.astimezone(self._cron.tzinfo)
        text = local.strftime(self.fmt)
        # Dagster's rule: when an hourly-or-finer window starts in the second copy of a repeated
        # wall-clock hour, its key carries the UTC offset so that both copies have a key.
        if local.fold and self._cron.is_hourly_or_finer and "%z" not in self.fmt:
            text += local.strftime("%z")
        return text

    def _tick_of(self, key: str, now: datetime | None) -> datetime:
        """The tick a key names, if the key is exactly how that tick is written."""
        earliest = _parse_key(key, self.fmt, self._cron.tzinfo)
        if earliest is None:
            raise self._invalid_key(key, f"it does not match the format {self.fmt!r}", now)
        tick = self._cron.nth_at_or_after(earliest, 0)
        if self._format(tick) != key:
            raise self._invalid_key(key, "no partition starts at that time", now)
        if tick < self._first:
            raise self._invalid_key(key, "it is before the first partition", now)
        return tick

    def _check_format_separates_windows(self) -> None:
        keys = list(islice(map(self._format, self._cron.iter_from(self._first)), _SAMPLE))
        if len(set(keys)) < len(keys):
            raise InvalidDefinitionError(
                f"format {self.fmt!r} gives several partitions of {self.cron_schedule!r}"
                f" the same key ({keys[0]!r}, {keys[1]!r}, ...)",
                field="fmt",
                value=self.fmt,
                allowed=f"a format precise enough for the cron, e.g. {DEFAULT_HOURLY_FORMAT!r}",
            )


def _parse_key(key: str, fmt: str, zone: ZoneInfo) -> datetime | None:
    """The instant ``key`` names, or None; a repeated wall time means its first copy."""
    patterns = (fmt,) if "%z" in fmt else (fmt, fmt + "%z")
    for pattern in patterns:
        try:
            parsed = datetime.strptime(key, pattern)
        except ValueError:
            continue
        if parsed.tzinfo is not None:
            return parsed.astimezone(UTC)
        # fold 0: the first copy of a repeated time (the second carries its offset), and for
        # a time skipped by a jump, the jump itself, where a daily tick then fires (rule a).
        return parsed.replace(tzinfo=zone).astimezone(UTC)
    return None


def _bound(value: datetime | str, name: str, fmt: str, zone: ZoneInfo) -> datetime:
    """A start or end: a datetime (naive means local) or a string in ``fmt`` or ISO 8601."""
    parsed = value if isinstance(value, datetime) else _parse_bound(value, name, fmt)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone)  # fold 0: the earlier meaning, as Dagster does
    return parsed.astimezone(UTC)


def _parse_bound(text: str, name: str, fmt: str) -> datetime:
    for parse in (lambda t: datetime.strptime(t, fmt), datetime.fromisoformat):
        try:
            return parse(text)
        except ValueError:
            continue
    raise InvalidDefinitionError(
        f"{name} {text!r} is neither in format {fmt!r} nor ISO 8601",
        field=name,
        value=text,
        allowed=f"a datetime, or a string in format {fmt!r} or ISO 8601",
    )


# --- Dagster's named helpers: a cron built from offsets, and Dagster's default formats ------
# They are functions returning a plain TimeWindowPartitionsDefinition (so that a definition
# read back from its dict compares equal), named like Dagster's classes for familiarity.


def HourlyPartitionsDefinition(  # noqa: N802
    start_date: datetime | str,
    end_date: datetime | str | None = None,
    minute_offset: int = 0,
    timezone: str = "UTC",
    fmt: str = DEFAULT_HOURLY_FORMAT,
    end_offset: int = 0,
) -> TimeWindowPartitionsDefinition:
    """One partition per hour, starting ``minute_offset`` minutes past it."""
    _check_offset("minute_offset", minute_offset, 0, 59)
    cron = f"{minute_offset} * * * *"
    return TimeWindowPartitionsDefinition(cron, start_date, end_date, timezone, fmt, end_offset)


def DailyPartitionsDefinition(  # noqa: N802
    start_date: datetime | str,
    end_date: datetime | str | None = None,
    minute_offset: int = 0,
    hour_offset: int = 0,
    timezone: str = "UTC",
    fmt: str = DEFAULT_DATE_FORMAT,
    end_offset: int = 0,
) -> TimeWindowPartitionsDefinition:
    """One partition per day, starting at ``hour_offset:minute_offset``."""
    _check_offset("minute_offset", minute_offset, 0, 59)
    _check_offset("hour_offset", hour_offset, 0, 23)
    cron = f"{minute_offset} {hour_offset} * * *"
    return TimeWindowPartitionsDefinition(cron, start_date, end_date, timezone, fmt, end_offset)


def WeeklyPartitionsDefinition(  # noqa: N802
    start_date: datetime | str,
    end_date: datetime | str | None = None,
    minute_offset: int = 0,
    hour_offset: int = 0,
    day_offset: int = 0,
    timezone: str = "UTC",
    fmt: str = DEFAULT_DATE_FORMAT,
    end_offset: int = 0,
) -> TimeWindowPartitionsDefinition:
    """One partition per week, starting on weekday ``day_offset`` (0 = Sunday)."""
    _check_offset("minute_offset", minute_offset, 0, 59)
    _check_offset("hour_offset", hour_offset, 0, 23)
    _check_offset("day_offset", day_offset, 0, 6)
    cron = f"{minute_offset} {hour_offset} * * {day_offset}"
    return TimeWindowPartitionsDefinition(cron, start_date, end_date, timezone, fmt, end_offset)


def MonthlyPartitionsDefinition(  # noqa: N802
    start_date: datetime | str,
    end_date: datetime | str | None = None,
    minute_offset: int = 0,
    hour_offset: int = 0,
    day_offset: int = 1,
    timezone: str = "UTC",
    fmt: str = DEFAULT_DATE_FORMAT,
    end_offset: int = 0,
) -> TimeWindowPartitionsDefinition:
    """One partition per month, starting on day ``day_offset`` (1..28, so every month has it)."""
    _check_offset("minute_offset", minute_offset, 0, 59)
    _check_offset("hour_offset", hour_offset, 0, 23)
    _check_offset("day_offset", day_offset, 1, 28)
    cron = f"{minute_offset} {hour_offset} {day_offset} * *"
    return TimeWindowPartitionsDefinition(cron, start_date, end_date, timezone, fmt, end_offset)


def _check_offset(name: str, value: int, low: int, high: int) -> None:
    if not low <= value <= high:
        raise InvalidDefinitionError(
            f"{name} must be between {low} and {high}, got {value}",
            field=name,
            value=value,
            allowed=f"{low}..{high}",
        )
