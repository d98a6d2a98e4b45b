"""AssetGraph: the plain description of user assets that the run bridge plans from.

The SDK turns ``Definitions`` into this; the bridge needs nothing else.  Partitions
are anything with ``resolve(selector, now)`` (every ``arco.partitions`` definition
qualifies), so this module stays free of the SDK.

Partition mappings say which upstream partitions a downstream partition waits
for inside one run: ``identity`` (the same key; the default when both assets are
partitioned) or ``all`` (every upstream task in the run; the only sensible
mapping when either side is unpartitioned).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

from arco.errors import InvalidDefinitionError
from arco.events.execution import RetryPolicy
from arco.events.selectors import FilterSelector, KeysSelector, RangeSelector

PartitionMapping = Literal["identity", "all"]


class KeyResolution(Protocol):
    """The keys a selector means, counted and sliced without listing them all."""

    def count(self) -> int: ...

    def keys(self, offset: int = 0, limit: int = 1000) -> list[str]: ...


class PartitionSpace(Protocol):
    """What the bridge needs from a partitions definition."""

    def resolve(
        self, selector: RangeSelector | KeysSelector | FilterSelector, now: datetime | None = None
    ) -> KeyResolution: ...


@dataclass(frozen=True)
class AssetNode:
    """One asset: what it depends on, its code version, retry policy and partitions."""

    key: str
    deps: tuple[str, ...] = ()
    code_version: str | None = None
    retry_policy: RetryPolicy = field(default_factory=RetryPolicy)
    partitions: PartitionSpace | None = None
    partition_mappings: Mapping[str, PartitionMapping] = field(default_factory=dict)

    def mapping_to(self, upstream: AssetNode) -> PartitionMapping:
        """How this asset's partitions wait for ``upstream``'s within one run."""
        if self.partitions is None or upstream.partitions is None:
            return "all"
        return self.partition_mappings.get(upstream.key, "identity")


@dataclass(frozen=True)
class AssetGraph:
    """Assets by key, validated acyclic; deps outside the graph are external (never planned)."""

    assets: Mapping[str, AssetNode]
    order: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        for key, node in self.assets.items():
            if key != node.key:
                raise InvalidDefinitionError(
                    f"asset {node.key!r} is filed under {key!r}", field="asset_key", value=key
                )
        object.__setattr__(self, "order", _topological(self.assets))

    @classmethod
    def of(cls, nodes: Iterable[AssetNode]) -> AssetGraph:
        """Index ``nodes``; raises InvalidDefinitionError on a duplicate key or a cycle."""
        assets: dict[str, AssetNode] = {}
        for node in nodes:
            if node.key in assets:
                raise InvalidDefinitionError(
                    f"asset {node.key!r} is defined twice", field="asset_key", value=node.key
                )
            assets[node.key] = node
        return cls(assets)

    def in_order(self, selection: Iterable[str]) -> list[str]:
        """The selected keys, upstream before downstream (ties by key)."""
        wanted = set(selection)
        return [key for key in self.order if key in wanted]


def _topological(assets: Mapping[str, AssetNode]) -> tuple[str, ...]:
    """Kahn's algorithm over in-graph deps, smallest key first so the order is stable."""
    waiting = {key: {d for d in node.deps if d in assets} for key, node in assets.items()}
    order: list[str] = []
    ready = sorted(key for key, deps in waiting.items() if not deps)
    while ready:
        key = ready.pop(0)
        order.append(key)
        for other, deps in waiting.items():
            if key in deps:
                deps.discard(key)
                if not deps:
                    ready.append(other)
        ready.sort()
    if len(order) < len(assets):
        cycle = sorted(set(assets) - set(order))
        raise InvalidDefinitionError(
            f"assets depend on each other in a cycle: {cycle}",
            field="deps",
            value=", ".join(cycle),
        )
    return tuple(order)
