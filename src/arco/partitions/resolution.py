"""A resolved selector: its count and any slice of its keys, never the whole list at once.

A backfill over a million partitions plans one chunk at a time, so a range is kept as two
indexes and a slice walks the definition from the first index it needs.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from arco.partitions.definition import PartitionsDefinition


def _check_slice(offset: int, limit: int) -> None:
    if offset < 0 or limit < 0:
        raise ValueError(f"offset and limit must be >= 0, got offset={offset} limit={limit}")


class Resolution(ABC):
    """The keys a selector means, in order."""

    @abstractmethod
    def count(self) -> int:
        """How many keys."""

    @abstractmethod
    def keys(self, offset: int = 0, limit: int = 1000) -> list[str]:
        """At most ``limit`` keys from position ``offset``; past the end gives fewer or none."""


@dataclass(frozen=True)
class RangeResolution(Resolution):
    """Indexes ``[start, stop)`` of a definition: counting is a subtraction."""

    definition: PartitionsDefinition
    start: int
    stop: int
    now: datetime | None

    def count(self) -> int:
        return self.stop - self.start

    def keys(self, offset: int = 0, limit: int = 1000) -> list[str]:
        _check_slice(offset, limit)
        first = self.start + offset
        wanted = min(limit, self.stop - first)
        if wanted <= 0:
            return []
        return list(islice(self.definition.iter_keys(first, self.now), wanted))


@dataclass(frozen=True)
class KeyListResolution(Resolution):
    """Explicit keys, already validated, in the order given without duplicates."""

    listed: tuple[str, ...]

    def count(self) -> int:
        return len(self.listed)

    def keys(self, offset: int = 0, limit: int = 1000) -> list[str]:
        _check_slice(offset, limit)
        return list(self.listed[offset : offset + limit])


@dataclass(frozen=True)
class FilterResolution(Resolution):
    """Keys of ``[start, stop)`` whose dimensions match globs: scanned, one key at a time."""

    definition: PartitionsDefinition
    start: int
    stop: int
    now: datetime | None
    globs: Mapping[str, re.Pattern[str]]

    def count(self) -> int:
        return sum(1 for _ in self._matching())

    def keys(self, offset: int = 0, limit: int = 1000) -> list[str]:
        _check_slice(offset, limit)
        return list(islice(self._matching(), offset, offset + limit))

    def _matching(self) -> Iterator[str]:
        candidates = islice(self.definition.iter_keys(self.start, self.now), self.stop - self.start)
        for key in candidates:
            parts = self.definition.split_key(key)
            if all(glob.match(parts[name]) for name, glob in self.globs.items()):
                yield key
