"""A fixed list of partition keys, in the order the user wrote them."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

from arco.errors import InvalidDefinitionError
from arco.partitions.definition import JsonValue, PartitionsDefinition


@dataclass(frozen=True, init=False)
class StaticPartitionsDefinition(PartitionsDefinition):
    """Keys given up front (e.g. regions); their order is the partition order."""

    keys: tuple[str, ...]
    _index: dict[str, int] = field(compare=False, repr=False)

    def __init__(self, keys: Iterable[str]) -> None:
        listed = tuple(keys)
        index = {key: i for i, key in enumerate(listed)}
        if len(index) != len(listed):
            duplicate = next(k for i, k in enumerate(listed) if index[k] != i)
            raise _invalid(f"duplicate static partition key {duplicate!r}", duplicate)
        if "" in index:
            raise _invalid("a static partition key cannot be empty", "")
        object.__setattr__(self, "keys", listed)
        object.__setattr__(self, "_index", index)

    def size(self, now: datetime | None = None) -> int:
        return len(self.keys)

    def index_of(self, key: str, now: datetime | None = None) -> int:
        index = self._index.get(key)
        if index is None:
            raise self._invalid_key(key, "not one of the static keys", now)
        return index

    def key_at(self, index: int, now: datetime | None = None) -> str:
        self._check_index(index, now)
        return self.keys[index]

    def iter_keys(self, start: int = 0, now: datetime | None = None) -> Iterator[str]:
        return (self.keys[i] for i in range(max(start, 0), len(self.keys)))

    def describe(self, now: datetime | None = None) -> str:
        shown = ", ".join(repr(k) for k in self.keys[:10])
        more = f", ... ({len(self.keys)} keys)" if len(self.keys) > 10 else ""
        return f"one of [{shown}{more}]"

    def to_dict(self) -> dict[str, JsonValue]:
        return {"type": "static", "keys": list(self.keys)}


def _invalid(message: str, key: str) -> InvalidDefinitionError:
    return InvalidDefinitionError(
        message, field="keys", value=key, allowed="distinct non-empty strings"
    )
