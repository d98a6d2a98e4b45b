"""Partitions definitions read back from the plain dicts their ``to_dict`` writes."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from arco.errors import InvalidDefinitionError
from arco.partitions.definition import PartitionsDefinition
from arco.partitions.multi import MultiPartitionsDefinition
from arco.partitions.static import StaticPartitionsDefinition
from arco.partitions.time_window import TimeWindowPartitionsDefinition

TYPES = ("static", "time_window", "multi")


def partitions_def_from_dict(data: Mapping[str, object]) -> PartitionsDefinition:
    """The definition a ``to_dict`` result describes; InvalidDefinitionError if malformed."""
    kind = data.get("type")
    if kind == "static":
        keys = data.get("keys")
        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
            raise _malformed("keys", keys, "a list of strings")
        return StaticPartitionsDefinition(keys)
    if kind == "time_window":
        return _time_window(data)
    if kind == "multi":
        dimensions = data.get("dimensions")
        if not isinstance(dimensions, Mapping):
            raise _malformed("dimensions", dimensions, "an object of name -> definition")
        return MultiPartitionsDefinition(
            {
                str(name): partitions_def_from_dict(_mapping(name, d))
                for name, d in dimensions.items()
            }
        )
    raise _malformed("type", kind, list(TYPES))


def _time_window(data: Mapping[str, object]) -> TimeWindowPartitionsDefinition:
    end, fmt, end_offset = data.get("end"), data.get("fmt"), data.get("end_offset", 0)
    if end is not None and not isinstance(end, str):
        raise _malformed("end", end, "an ISO 8601 string or null")
    if fmt is not None and not isinstance(fmt, str):
        raise _malformed("fmt", fmt, "a strftime format or null")
    if not isinstance(end_offset, int) or isinstance(end_offset, bool):
        raise _malformed("end_offset", end_offset, "an integer")
    return TimeWindowPartitionsDefinition(
        _text(data, "cron_schedule"),
        start=_iso(_text(data, "start"), "start"),
        end=None if end is None else _iso(end, "end"),
        timezone=_text(data, "timezone", "UTC"),
        fmt=fmt,
        end_offset=end_offset,
    )


def _text(data: Mapping[str, object], name: str, default: str | None = None) -> str:
    value = data.get(name, default)
    if not isinstance(value, str):
        raise _malformed(name, value, "a string")
    return value


def _iso(text: str, name: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except ValueError as error:
        raise _malformed(name, text, "an ISO 8601 datetime") from error


def _mapping(name: object, value: object) -> Mapping[str, object]:
    if not isinstance(value, Mapping):
        raise _malformed(f"dimensions.{name}", value, "a partitions definition object")
    return value


def _malformed(name: str, value: object, allowed: str | list[str]) -> InvalidDefinitionError:
    return InvalidDefinitionError(
        f"partitions definition has an invalid {name}: {value!r}; expected {allowed}",
        field=name,
        value=None if value is None else str(value),
        allowed=allowed,
    )
