"""Partitions over several dimensions (e.g. date x region), keyed like Dagster's.

A key joins each dimension's key with ``|`` in dimension-name order, and keys are ordered as
the product of the dimensions in that order (the first name varies slowest), so an index is a
mixed-radix number whose digits are the dimensions' indexes.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime

from arco.errors import InvalidDefinitionError, InvalidPartitionKeyError
from arco.partitions.definition import JsonValue, PartitionsDefinition
from arco.partitions.static import StaticPartitionsDefinition

DELIMITER = "|"


@dataclass(frozen=True, init=False)
class MultiPartitionsDefinition(PartitionsDefinition):
    """The product of two or more static or time-window definitions, by dimension name."""

    dimensions: tuple[tuple[str, PartitionsDefinition], ...]

    def __init__(self, dimensions: Mapping[str, PartitionsDefinition]) -> None:
        if len(dimensions) < 2:
            raise _invalid(
                "a multi-partitions definition needs at least two dimensions", dimensions
            )
        for name, definition in dimensions.items():
            if not name or DELIMITER in name:
                raise _invalid(
                    f"dimension name {name!r} is empty or contains {DELIMITER!r}", dimensions
                )
            if isinstance(definition, MultiPartitionsDefinition):
                raise _invalid(f"dimension {name!r} is itself multi-dimensional", dimensions)
            if isinstance(definition, StaticPartitionsDefinition):
                _check_static_keys(name, definition)
        object.__setattr__(self, "dimensions", tuple(sorted(dimensions.items())))

    @property
    def dimension_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.dimensions)

    def split_key(self, key: str) -> dict[str, str]:
        parts = key.split(DELIMITER)
        if len(parts) != len(self.dimensions):
            raise self._invalid_key(key, f"it has {len(parts)} parts", None)
        return dict(zip(self.dimension_names, parts, strict=True))

    def join_key(self, parts: Mapping[str, str]) -> str:
        """The key whose part in each dimension is ``parts[name]``."""
        missing = [name for name in self.dimension_names if name not in parts]
        if missing:
            raise self._invalid_key(str(dict(parts)), f"it has no {missing[0]!r} part", None)
        return DELIMITER.join(parts[name] for name in self.dimension_names)

    def size(self, now: datetime | None = None) -> int | None:
        total = 1
        for _, definition in self.dimensions:
            size = definition.size(now)
            if size is None:
                return None
            total *= size
        return total

    def index_of(self, key: str, now: datetime | None = None) -> int:
        parts = key.split(DELIMITER)
        if len(parts) != len(self.dimensions):
            raise self._invalid_key(key, f"it has {len(parts)} parts", now)
        index = 0
        for (name, definition), part, radix in zip(
            self.dimensions, parts, (1, *self._radices(now)), strict=True
        ):
            try:
                index = index * radix + definition.index_of(part, now)
            except InvalidPartitionKeyError as error:
                raise InvalidPartitionKeyError(
                    f"{key!r} is not a partition key: its {name} part {error.message}",
                    field="partition_key",
                    value=key,
                    allowed=self.describe(now),
                    details={"dimension": name},
                ) from error
        return index

    def iter_keys(self, start: int = 0, now: datetime | None = None) -> Iterator[str]:
        radices = self._radices(now)
        digits = []
        rest = max(start, 0)
        for radix in reversed(radices):
            rest, digit = divmod(rest, radix) if radix else (rest, 0)
            digits.append(digit)
        digits.append(rest)
        digits.reverse()
        if 0 in radices:
            return iter(())
        return self._odometer(digits, radices, now)

    def describe(self, now: datetime | None = None) -> str:
        shape = DELIMITER.join(f"<{name}>" for name in self.dimension_names)
        each = "; ".join(f"{name}: {d.describe(now)}" for name, d in self.dimensions)
        return f"{shape} (dimensions in name order) where {each}"

    def to_dict(self) -> dict[str, JsonValue]:
        return {"type": "multi", "dimensions": {n: d.to_dict() for n, d in self.dimensions}}

    def _radices(self, now: datetime | None) -> list[int]:
        """Sizes of every dimension but the first: the bases of the mixed-radix index."""
        sizes = []
        for name, definition in self.dimensions[1:]:
            size = definition.size(now)
            if size is None:
                raise ValueError(f"now is required: dimension {name!r} is open-ended and not first")
            sizes.append(size)
        return sizes

    def _odometer(
        self, digits: list[int], radices: list[int], now: datetime | None
    ) -> Iterator[str]:
        """Keys from ``digits`` on, advancing the last dimension fastest."""
        definitions = [definition for _, definition in self.dimensions]
        iterators = [d.iter_keys(i, now) for d, i in zip(definitions, digits, strict=True)]
        current = [next(it, None) for it in iterators]
        while True:
            if any(part is None for part in current):
                return
            yield DELIMITER.join(part for part in current if part is not None)
            k = len(definitions) - 1
            while k > 0 and digits[k] + 1 == radices[k - 1]:
                digits[k] = 0
                iterators[k] = definitions[k].iter_keys(0, now)
                current[k] = next(iterators[k], None)
                k -= 1
            digits[k] += 1
            current[k] = next(iterators[k], None)


def _invalid(
    message: str, dimensions: Mapping[str, PartitionsDefinition]
) -> InvalidDefinitionError:
    return InvalidDefinitionError(
        message,
        field="dimensions",
        value=",".join(dimensions),
        allowed=f"two or more named static or time-window definitions, names without {DELIMITER!r}",
    )


def _check_static_keys(name: str, definition: StaticPartitionsDefinition) -> None:
    bad = next((key for key in definition.keys if DELIMITER in key), None)
    if bad is not None:
        raise InvalidDefinitionError(
            f"static key {bad!r} of dimension {name!r} contains {DELIMITER!r}",
            field="keys",
            value=bad,
            allowed=f"keys without {DELIMITER!r}",
        )
