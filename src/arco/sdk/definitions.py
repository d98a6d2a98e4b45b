"""``Definitions``: a project's assets, schedules and sensors, validated as a whole.

Construction refuses, with an :class:`~arco.errors.InvalidDefinitionError` that
names the field and the value: duplicate names, a dependency on an asset that
does not exist, a dependency cycle (with its path), a schedule or sensor aimed at
an unknown asset, and partitions that do not line up.  Partitions rule: an
upstream with the same partitions definition maps partition to partition
(identity); an unpartitioned upstream is a dependency of every partition; any
other pair needs an explicit ``AssetDep(..., partition_mapping=...)``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar

from arco.controllers.asset_graph import AssetGraph, AssetNode
from arco.errors import InvalidDefinitionError, NotFoundError
from arco.events.execution import RetryPolicy as RetryPolicySpec
from arco.events.schedules import ScheduleSpec
from arco.ids import canonical_json
from arco.partitions import PartitionsDefinition
from arco.partitions.status import AssetInfo, Upstream
from arco.sdk.assets import AssetDep, AssetsDefinition, IdentityPartitionMapping
from arco.sdk.schedules import ScheduleDefinition
from arco.sdk.sensors import SensorDefinition

MappingKind = Literal["identity", "all"]
T = TypeVar("T")


@dataclass(frozen=True)
class CodeLocation:
    """Where a project was loaded from, so a worker's subprocess can load it again."""

    module: str | None = None
    file: Path | None = None
    attribute: str | None = None
    working_directory: Path | None = None


class Definitions:
    """Everything a project declares; validated on construction."""

    def __init__(
        self,
        assets: Iterable[AssetsDefinition] = (),
        schedules: Iterable[ScheduleDefinition] = (),
        sensors: Iterable[SensorDefinition] = (),
    ) -> None:
        self.assets: tuple[AssetsDefinition, ...] = tuple(assets)
        self.schedules: tuple[ScheduleDefinition, ...] = tuple(schedules)
        self.sensors: tuple[SensorDefinition, ...] = tuple(sensors)
        self.location: CodeLocation | None = None
        self.assets_by_key = _unique("assets", ((a.key, a) for a in self.assets))
        self.schedules_by_name = _unique("schedules", ((s.name, s) for s in self.schedules))
        self.sensors_by_name = _unique("sensors", ((s.name, s) for s in self.sensors))
        self._check_deps()
        self._order = _topological_order(self.assets_by_key)
        self._mappings = self._check_partitions()
        self._check_schedules()
        self._check_sensors()

    def get_asset(self, key: str) -> AssetsDefinition:
        try:
            return self.assets_by_key[key]
        except KeyError:
            raise NotFoundError(
                f"no asset {key!r} in these definitions",
                field="asset_key",
                value=key,
                allowed=sorted(self.assets_by_key),
            ) from None

    def topological_order(self) -> list[str]:
        """Asset keys with every asset after its upstreams (ties broken by key)."""
        return list(self._order)

    def partition_mappings(self) -> dict[tuple[str, str], MappingKind]:
        """``(asset, upstream) -> identity | all`` for every dependency."""
        return dict(self._mappings)

    def partitions_by_asset(self) -> dict[str, PartitionsDefinition | None]:
        """Asset key → its partitions definition (what backfill services take)."""
        return {key: definition.partitions_def for key, definition in self.assets_by_key.items()}

    def asset_info(self, key: str) -> AssetInfo:
        """What the partition-status read side needs to know about one asset."""
        definition = self.get_asset(key)
        policy = definition.freshness_policy
        return AssetInfo(
            asset_key=key,
            partitions_def=definition.partitions_def,
            upstreams=tuple(
                Upstream(dep, self._mappings[(key, dep)]) for dep in definition.dep_keys
            ),
            code_version=definition.code_version,
            maximum_lag=None if policy is None else policy.maximum_lag,
        )

    def schedule_specs(self) -> dict[str, ScheduleSpec]:
        """Each schedule as the ledger's spec, with its target's partitions definition."""
        return {
            schedule.name: schedule.to_spec(self._target_partitions(schedule.target, {}))
            for schedule in self.schedules
        }

    def asset_graph(self) -> AssetGraph:
        """The pure description of the graph that the run bridge plans runs from."""
        return AssetGraph.of(
            AssetNode(
                key=definition.key,
                deps=definition.dep_keys,
                code_version=definition.code_version,
                retry_policy=(
                    RetryPolicySpec()
                    if definition.retry_policy is None
                    else definition.retry_policy.to_spec()
                ),
                partitions=definition.partitions_def,
                partition_mappings={
                    dep: self._mappings[(definition.key, dep)] for dep in definition.dep_keys
                },
            )
            for definition in self.assets
        )

    def _check_deps(self) -> None:
        known = sorted(self.assets_by_key)
        for definition in self.assets:
            for dep in definition.dep_keys:
                if dep not in self.assets_by_key:
                    raise InvalidDefinitionError(
                        f"asset {definition.key!r} depends on {dep!r}, which is not defined",
                        field="deps",
                        value=dep,
                        allowed=known,
                        details={"asset": definition.key},
                    )

    def _check_partitions(self) -> dict[tuple[str, str], MappingKind]:
        mappings: dict[tuple[str, str], MappingKind] = {}
        for definition in self.assets:
            for dep in definition.deps:
                upstream = self.assets_by_key[dep.key]
                mappings[(definition.key, dep.key)] = _mapping(definition, dep, upstream)
        return mappings

    def _check_schedules(self) -> None:
        for schedule in self.schedules:
            self._target_partitions(schedule.target, {"schedule": schedule.name})

    def _check_sensors(self) -> None:
        for sensor in self.sensors:
            self._target_partitions(
                sensor.asset_selection, {"sensor": sensor.name}, same_partitions=False
            )

    def _target_partitions(
        self, keys: Sequence[str], owner: dict[str, object], *, same_partitions: bool = True
    ) -> PartitionsDefinition | None:
        """The one partitions definition shared by ``keys`` (None when unpartitioned)."""
        definitions: dict[str, PartitionsDefinition | None] = {}
        for key in keys:
            if key not in self.assets_by_key:
                raise InvalidDefinitionError(
                    f"{_describe(owner)} targets {key!r}, which is not defined",
                    field="target",
                    value=key,
                    allowed=sorted(self.assets_by_key),
                    details=owner,
                )
            definitions[key] = self.assets_by_key[key].partitions_def
        shapes = {_shape(d) for d in definitions.values()}
        if same_partitions and len(shapes) > 1:
            raise InvalidDefinitionError(
                f"{_describe(owner)} targets assets with different partitions definitions;"
                " one tick requests one partition, so its targets must share one",
                field="target",
                value=",".join(keys),
                details={**owner, "assets": list(keys)},
            )
        return next(iter(definitions.values()), None)


def _unique(kind: str, named: Iterable[tuple[str, T]]) -> dict[str, T]:
    found: dict[str, T] = {}
    for name, item in named:
        if name in found:
            raise InvalidDefinitionError(
                f"two {kind} are named {name!r}; names must be unique",
                field=kind,
                value=name,
            )
        found[name] = item
    return found


def _topological_order(assets: dict[str, AssetsDefinition]) -> list[str]:
    """Depth-first, in key order; a back edge is a cycle, reported with its path."""
    done: set[str] = set()
    order: list[str] = []
    for root in sorted(assets):
        if root in done:
            continue
        path: list[str] = [root]
        on_path = {root}
        pending = [iter(assets[root].dep_keys)]
        while pending:
            dep = next(pending[-1], None)
            if dep is None:
                pending.pop()
                finished = path.pop()
                on_path.discard(finished)
                done.add(finished)
                order.append(finished)
            elif dep in on_path:
                cycle = [*path[path.index(dep) :], dep]
                raise InvalidDefinitionError(
                    f"dependency cycle: {' -> '.join(cycle)}",
                    field="deps",
                    value=" -> ".join(cycle),
                    details={"cycle": cycle},
                )
            elif dep not in done:
                path.append(dep)
                on_path.add(dep)
                pending.append(iter(assets[dep].dep_keys))
    return order


def _mapping(asset: AssetsDefinition, dep: AssetDep, upstream: AssetsDefinition) -> MappingKind:
    own, theirs = asset.partitions_def, upstream.partitions_def
    declared = dep.partition_mapping
    if declared is not None:
        if isinstance(declared, IdentityPartitionMapping) and (own is None or theirs is None):
            raise InvalidDefinitionError(
                f"asset {asset.key!r} maps {dep.key!r} by identity, but only one of them is"
                " partitioned",
                field="partition_mapping",
                value=asset.key,
                allowed="AllPartitionMapping() when one side is unpartitioned",
                details={"asset": asset.key, "upstream": dep.key},
            )
        return "identity" if isinstance(declared, IdentityPartitionMapping) else "all"
    if theirs is None:
        return "all"
    if own is not None and _shape(own) == _shape(theirs):
        return "identity"
    raise InvalidDefinitionError(
        f"asset {asset.key!r} ({_describe_partitions(own)}) depends on {dep.key!r}"
        f" ({_describe_partitions(theirs)}); declare how their partitions relate with"
        f" deps=[AssetDep({dep.key!r}, partition_mapping=AllPartitionMapping())]",
        field="partitions_def",
        value=asset.key,
        allowed="the upstream's partitions definition, an unpartitioned upstream,"
        " or an explicit partition_mapping",
        details={"asset": asset.key, "upstream": dep.key},
    )


def _shape(definition: PartitionsDefinition | None) -> str | None:
    return None if definition is None else canonical_json(definition.to_dict())


def _describe_partitions(definition: PartitionsDefinition | None) -> str:
    return "unpartitioned" if definition is None else f"partitioned {definition.to_dict()}"


def _describe(owner: dict[str, object]) -> str:
    return " ".join(f"{kind} {name!r}" for kind, name in owner.items())
