"""What every partitions definition offers: ordered keys, indexes and lazy resolution.

Keys are ordered; a key's index is its position in that order.  Time-window definitions may be
open-ended, so whatever depends on the last partition takes ``now`` (never read here).
"""

from __future__ import annotations

import fnmatch
import re
from abc import ABC, abstractmethod
from collections.abc import Iterator
from datetime import datetime
from typing import TypeAlias

from arco.errors import InvalidPartitionKeyError, InvalidPartitionRangeError, InvalidSelectorError
from arco.events.selectors import FilterSelector, KeysSelector, RangeSelector
from arco.partitions.resolution import (
    FilterResolution,
    KeyListResolution,
    RangeResolution,
    Resolution,
)

JsonValue: TypeAlias = str | int | float | bool | list["JsonValue"] | dict[str, "JsonValue"] | None
SINGLE_DIMENSION = "key"


class PartitionsDefinition(ABC):
    """An ordered set of partition keys that never has to be listed whole."""

    @abstractmethod
    def size(self, now: datetime | None = None) -> int | None:
        """How many partitions exist at ``now``; None when unbounded because ``now`` is None."""

    @abstractmethod
    def index_of(self, key: str, now: datetime | None = None) -> int:
        """The position of ``key``; raises InvalidPartitionKeyError naming format and bounds."""

    @abstractmethod
    def iter_keys(self, start: int = 0, now: datetime | None = None) -> Iterator[str]:
        """Keys from index ``start`` on, lazily, up to the last partition at ``now``."""

    @abstractmethod
    def describe(self, now: datetime | None = None) -> str:
        """The expected key format and bounds, for error messages."""

    @abstractmethod
    def to_dict(self) -> dict[str, JsonValue]:
        """Plain JSON types, read back by ``partitions_def_from_dict``."""

    @property
    def dimension_names(self) -> tuple[str, ...]:
        """Names a filter selector may use; a single-dimension definition has only ``key``."""
        return (SINGLE_DIMENSION,)

    def split_key(self, key: str) -> dict[str, str]:
        """The key's part in each dimension."""
        return {SINGLE_DIMENSION: key}

    def count(self, now: datetime | None = None) -> int:
        """How many partitions exist at ``now`` (required when the definition has no end)."""
        size = self.size(now)
        if size is None:
            raise ValueError(f"now is required to count an open-ended definition: {self}")
        return size

    def validate_key(self, key: str, now: datetime | None = None) -> None:
        """Raise InvalidPartitionKeyError unless ``key`` exists (at ``now`` when given)."""
        self.index_of(key, now)

    def key_at(self, index: int, now: datetime | None = None) -> str:
        """The key at ``index``; raises InvalidPartitionRangeError outside the bounds."""
        self._check_index(index, now)
        return next(self.iter_keys(index, now))

    def first_key(self) -> str | None:
        return next(self.iter_keys(0), None)

    def last_key(self, now: datetime | None = None) -> str | None:
        count = self.count(now)
        return self.key_at(count - 1, now) if count else None

    def _check_index(self, index: int, now: datetime | None) -> None:
        size = self.size(now)
        if index < 0 or (size is not None and index >= size):
            bound = "no upper bound" if size is None else f"0..{size - 1}"
            raise InvalidPartitionRangeError(
                f"partition index {index} is out of range ({bound})",
                field="index",
                value=index,
                allowed=bound,
            )

    def _invalid_key(self, key: str, why: str, now: datetime | None) -> InvalidPartitionKeyError:
        expected = self.describe(now)
        return InvalidPartitionKeyError(
            f"{key!r} is not a partition key: {why}; expected {expected}",
            field="partition_key",
            value=key,
            allowed=expected,
        )

    def resolve(
        self, selector: RangeSelector | KeysSelector | FilterSelector, now: datetime | None = None
    ) -> Resolution:
        """Which keys a selector means, counted and sliced without listing them all."""
        if isinstance(selector, RangeSelector):
            start, stop = self._range(selector, now)
            return RangeResolution(self, start, stop, now)
        if isinstance(selector, KeysSelector):
            unique = tuple(dict.fromkeys(selector.keys))
            for key in unique:
                self.validate_key(key, now)
            return KeyListResolution(unique)
        if isinstance(selector, FilterSelector):
            return self._filter(selector, now)
        raise InvalidSelectorError(
            f"unknown partition selector {selector!r}",
            field="kind",
            value=type(selector).__name__,
            allowed=["range", "keys", "filter"],
        )

    def _range(self, selector: RangeSelector, now: datetime | None) -> tuple[int, int]:
        start = self._range_bound(selector.start, "start", now)
        end = self._range_bound(selector.end, "end", now)
        if start > end:
            raise InvalidPartitionRangeError(
                f"range start {selector.start!r} comes after its end {selector.end!r}",
                field="range",
                value=f"{selector.start}...{selector.end}",
                allowed="a start at or before the end, in partition order",
            )
        return start, end + 1

    def _range_bound(self, key: str, field: str, now: datetime | None) -> int:
        try:
            return self.index_of(key, now)
        except InvalidPartitionKeyError as error:
            raise InvalidPartitionRangeError(
                f"range {field} {error.message}", field=field, value=key, allowed=error.allowed
            ) from error

    def _filter(self, selector: FilterSelector, now: datetime | None) -> Resolution:
        names = self.dimension_names
        unknown = sorted(set(selector.dimensions) - set(names))
        if unknown:
            raise InvalidSelectorError(
                f"filter names unknown dimension {unknown[0]!r}; this definition has {list(names)}",
                field="dimensions",
                value=unknown[0],
                allowed=list(names),
            )
        if selector.range is not None:
            start, stop = self._range(selector.range, now)
        else:
            start, stop = 0, self.count(now)
        globs = {
            name: re.compile(fnmatch.translate(glob)) for name, glob in selector.dimensions.items()
        }
        return FilterResolution(self, start, stop, now, globs)
