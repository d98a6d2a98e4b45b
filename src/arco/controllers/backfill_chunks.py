"""Which keys a backfill chunk covers, resolved lazily from the backfill's selector.

Chunk ``i`` is ``resolve(selector).keys(i * chunk_size, chunk_size)``: a range is two
indexes and a slice walks the definition from the first key it needs, so planning a
chunk of a million-partition range touches ``chunk_size`` keys.  Two refinements keep
every selector kind cheap on every pass:

* an explicit key list was validated when the backfill was created; re-validating it
  each pass would cost a parse per key, so it is sliced as it stands;
* a filter has no arithmetic index (which keys match is only known by scanning), so
  when the previous chunk's last key is known the scan resumes right after it
  instead of rescanning every earlier chunk.

Resolution never uses ``now``: the selector was pinned to explicit bounds at creation,
so the same chunk has the same keys whenever it is planned or replayed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from itertools import islice

from arco.errors import InvalidSelectorError, ValidationError
from arco.events.selectors import FilterSelector, KeysSelector, PartitionSelector, RangeSelector
from arco.partitions import PartitionsDefinition
from arco.partitions.resolution import (
    FilterResolution,
    KeyListResolution,
    RangeResolution,
    Resolution,
)

MAX_CHUNK_SIZE = 10_000


class ChunkSlicer:
    """The keys of each chunk of one backfill."""

    def __init__(
        self, definition: PartitionsDefinition, selector: PartitionSelector, chunk_size: int
    ) -> None:
        self.definition = definition
        self.chunk_size = chunk_size
        self._walk: tuple[int, Iterator[str]] | None = None
        self.resolution: Resolution = (
            KeyListResolution(tuple(dict.fromkeys(selector.keys)))
            if isinstance(selector, KeysSelector)
            else definition.resolve(selector, None)
        )

    def keys(self, chunk_index: int, after_key: str | None = None) -> list[str]:
        """Chunk ``chunk_index``; ``after_key``, if given, must end chunk ``chunk_index - 1``."""
        resolution = self.resolution
        if isinstance(resolution, RangeResolution):
            return self._range_keys(resolution, chunk_index * self.chunk_size)
        if isinstance(resolution, FilterResolution) and after_key is not None:
            resume = self.definition.index_of(after_key) + 1
            return replace(resolution, start=max(resolution.start, resume)).keys(0, self.chunk_size)
        return resolution.keys(chunk_index * self.chunk_size, self.chunk_size)

    def _range_keys(self, resolution: RangeResolution, offset: int) -> list[str]:
        # Consecutive chunks continue one walk of the definition instead of seeking the
        # first key of each chunk again (a seek costs a cron computation per chunk).
        if self._walk is None or self._walk[0] != offset:
            first = resolution.start + offset
            self._walk = (offset, resolution.definition.iter_keys(first, resolution.now))
        wanted = max(0, min(self.chunk_size, resolution.count() - offset))
        keys = list(islice(self._walk[1], wanted))
        self._walk = (offset + len(keys), self._walk[1])
        return keys


def pin_selector(
    definition: PartitionsDefinition, selector: PartitionSelector, now: datetime
) -> PartitionSelector:
    """``selector`` with explicit bounds, so that it means the same keys on every replay.

    Only a filter without a range over an open-ended definition depends on ``now``
    (its candidates are "every partition so far"); it gets the range that is current.
    """
    if not isinstance(selector, FilterSelector) or selector.range is not None:
        return selector
    if definition.size(None) is not None:
        return selector
    first, last = definition.first_key(), definition.last_key(now)
    if first is None or last is None:
        raise InvalidSelectorError(
            "the filter matches nothing: the definition has no partition yet",
            field="selector",
            value="filter",
            allowed="a selector naming at least one existing partition",
        )
    return selector.model_copy(update={"range": RangeSelector(start=first, end=last)})


def check_chunk_size(chunk_size: int) -> None:
    if not 1 <= chunk_size <= MAX_CHUNK_SIZE:
        raise ValidationError(
            f"chunk_size must be between 1 and {MAX_CHUNK_SIZE}, got {chunk_size}",
            field="chunk_size",
            value=chunk_size,
            allowed=f"1..{MAX_CHUNK_SIZE}",
        )


def chunk_count(partition_count: int, chunk_size: int) -> int:
    return -(-partition_count // chunk_size)
