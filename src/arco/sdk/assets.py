"""``@asset`` and what an asset declares: deps, partitions, code version, policies.

Dependencies are explicit (``deps=[...]``): Arco passes no values between assets
(there are no IO managers), so a parameter named after an upstream asset would
have nothing to receive.  An asset function takes either no parameter or one, the
:class:`~arco.sdk.context.AssetExecutionContext` (named ``context`` or annotated
with that type); any other parameter is refused with a hint to use ``deps=``.
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import Any, overload

from arco.errors import InvalidDefinitionError
from arco.events.execution import RetryPolicy as RetryPolicySpec
from arco.partitions import PartitionsDefinition

# Dagster-style keys: identifiers, optionally prefixed ("warehouse/orders").
ASSET_KEY_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(/[A-Za-z_][A-Za-z0-9_]*)*$")
MetadataValue = str | int | float | bool | None


class Backoff(StrEnum):
    CONSTANT = "constant"
    EXPONENTIAL = "exponential"


@dataclass(frozen=True)
class RetryPolicy:
    """Retry a failed attempt ``max_retries`` times, ``delay`` apart (doubling if exponential)."""

    max_retries: int = 1
    delay: float | timedelta = 0.0
    backoff: Backoff | str = Backoff.CONSTANT
    jitter: bool = False

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise _invalid("max_retries", self.max_retries, "an integer >= 0")
        if self.delay_seconds < 0:
            raise _invalid("delay", self.delay_seconds, "a non-negative number of seconds")
        if self.backoff not in set(Backoff):
            raise _invalid("backoff", self.backoff, [b.value for b in Backoff])

    @property
    def delay_seconds(self) -> float:
        delay = self.delay
        return delay.total_seconds() if isinstance(delay, timedelta) else float(delay)

    def to_spec(self) -> RetryPolicySpec:
        """The policy as the execution engine's events carry it."""
        return RetryPolicySpec(
            max_retries=self.max_retries,
            delay_seconds=self.delay_seconds,
            backoff=Backoff(self.backoff).value,
            jitter=self.jitter,
        )


@dataclass(frozen=True)
class FreshnessPolicy:
    """A partition older than ``maximum_lag_minutes`` is stale (reason FRESHNESS_POLICY)."""

    maximum_lag_minutes: float

    def __post_init__(self) -> None:
        if not self.maximum_lag_minutes > 0:
            raise _invalid("maximum_lag_minutes", self.maximum_lag_minutes, "a number > 0")

    @property
    def maximum_lag(self) -> timedelta:
        return timedelta(minutes=self.maximum_lag_minutes)


@dataclass(frozen=True)
class IdentityPartitionMapping:
    """Partition ``k`` of the asset depends on partition ``k`` of the upstream."""

    kind: str = field(default="identity", init=False)


@dataclass(frozen=True)
class AllPartitionMapping:
    """Every partition of the asset depends on all partitions of the upstream."""

    kind: str = field(default="all", init=False)


PartitionMapping = IdentityPartitionMapping | AllPartitionMapping


@dataclass(frozen=True)
class AssetDep:
    """A dependency on ``asset``, with an optional partition mapping."""

    asset: str | AssetsDefinition
    partition_mapping: PartitionMapping | None = None

    @property
    def key(self) -> str:
        return self.asset if isinstance(self.asset, str) else self.asset.key


@dataclass(frozen=True)
class MaterializeResult:
    """What an asset may return: metadata recorded with its materialization."""

    metadata: Mapping[str, object] = field(default_factory=dict)

    def normalized_metadata(self) -> dict[str, MetadataValue]:
        return normalize_metadata(self.metadata)


def normalize_metadata(metadata: Mapping[str, object]) -> dict[str, MetadataValue]:
    """JSON scalars as they are; lists and dicts as JSON text; anything else as ``str()``."""
    normalized: dict[str, MetadataValue] = {}
    for name, value in metadata.items():
        if value is None or isinstance(value, str | int | float | bool):
            normalized[str(name)] = value
        elif isinstance(value, list | tuple | dict):
            normalized[str(name)] = json.dumps(value, sort_keys=True, default=str)
        else:
            normalized[str(name)] = str(value)
    return normalized


@dataclass(frozen=True, eq=False)
class AssetsDefinition:
    """One asset: its key, compute function and everything it declares."""

    key: str
    compute_fn: Callable[..., object]
    deps: tuple[AssetDep, ...] = ()
    partitions_def: PartitionsDefinition | None = None
    code_version: str | None = None
    freshness_policy: FreshnessPolicy | None = None
    retry_policy: RetryPolicy | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    description: str | None = None
    takes_context: bool = False

    @property
    def dep_keys(self) -> tuple[str, ...]:
        return tuple(dep.key for dep in self.deps)

    def __call__(self, *args: Any, **kwargs: Any) -> object:
        """Call the function directly (unit tests: ``my_asset(build_asset_context())``)."""
        return self.compute_fn(*args, **kwargs)


DepLike = str | AssetsDefinition | AssetDep


@overload
def asset(fn: Callable[..., object], /) -> AssetsDefinition: ...


@overload
def asset(
    *,
    name: str | None = None,
    deps: Sequence[DepLike] = (),
    partitions_def: PartitionsDefinition | None = None,
    code_version: str | None = None,
    freshness_policy: FreshnessPolicy | None = None,
    retry_policy: RetryPolicy | None = None,
    tags: Mapping[str, str] | None = None,
    description: str | None = None,
) -> Callable[[Callable[..., object]], AssetsDefinition]: ...


def asset(
    fn: Callable[..., object] | None = None,
    /,
    *,
    name: str | None = None,
    deps: Sequence[DepLike] = (),
    partitions_def: PartitionsDefinition | None = None,
    code_version: str | None = None,
    freshness_policy: FreshnessPolicy | None = None,
    retry_policy: RetryPolicy | None = None,
    tags: Mapping[str, str] | None = None,
    description: str | None = None,
) -> AssetsDefinition | Callable[[Callable[..., object]], AssetsDefinition]:
    """Declare an asset; usable bare (``@asset``) or with arguments (``@asset(deps=[...])``)."""

    def wrap(function: Callable[..., object]) -> AssetsDefinition:
        key = name if name is not None else function.__name__
        _check_key(key)
        return AssetsDefinition(
            key=key,
            compute_fn=function,
            deps=tuple(_as_dep(dep) for dep in deps),
            partitions_def=partitions_def,
            code_version=code_version,
            freshness_policy=freshness_policy,
            retry_policy=retry_policy,
            tags=_check_tags(tags or {}),
            description=description or inspect.getdoc(function),
            takes_context=_takes_context(key, function),
        )

    return wrap if fn is None else wrap(fn)


def _as_dep(dep: DepLike) -> AssetDep:
    if isinstance(dep, AssetDep):
        return dep
    if isinstance(dep, str | AssetsDefinition):
        return AssetDep(dep)
    raise _invalid("deps", repr(dep), "asset names, assets or AssetDep(...)")


def _check_key(key: str) -> None:
    if not isinstance(key, str) or not ASSET_KEY_PATTERN.match(key):
        raise _invalid(
            "name",
            key,
            "letters, digits and underscores, not starting with a digit;"
            " '/' separates a key prefix",
        )


def _check_tags(tags: Mapping[str, str]) -> dict[str, str]:
    for tag, value in tags.items():
        if not isinstance(tag, str) or not isinstance(value, str):
            raise _invalid("tags", f"{tag!r}: {value!r}", "string keys and string values")
    return dict(tags)


def _takes_context(key: str, function: Callable[..., object]) -> bool:
    from arco.sdk.context import AssetExecutionContext

    parameters = list(inspect.signature(function).parameters.values())
    for index, parameter in enumerate(parameters):
        annotation = parameter.annotation
        is_context = (
            parameter.name == "context"
            or annotation is AssetExecutionContext
            # ``from __future__ import annotations`` leaves the annotation as text
            or (isinstance(annotation, str) and annotation.endswith("AssetExecutionContext"))
        )
        if index > 0 or not is_context:
            raise InvalidDefinitionError(
                f"asset {key!r} has parameter {parameter.name!r}: an asset function takes only"
                f" its context; to depend on another asset declare deps=[{parameter.name!r}]"
                " and read the data from where that asset writes it",
                field="parameters",
                value=parameter.name,
                allowed="no parameter, or one: the AssetExecutionContext",
                details={"asset": key},
            )
    return bool(parameters)


def _invalid(name: str, value: object, allowed: str | list[str]) -> InvalidDefinitionError:
    return InvalidDefinitionError(
        f"invalid {name}: {value!r}; expected {allowed}",
        field=name,
        value=value,
        allowed=allowed,
    )
