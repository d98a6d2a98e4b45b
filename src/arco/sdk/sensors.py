"""Sensors as users write them: ``@sensor`` (poll) and ``@push_sensor``.

A poll sensor is called with the current cursor no more often than
``minimum_interval_seconds``; a push sensor is called once per message.  Either
may return (as in Dagster) a :class:`SensorResult`, one :class:`RunRequest`, a
list of them, a :class:`SkipReason`, ``None``, or yield run requests.  A poll
sensor moves its cursor with ``SensorResult(cursor=...)`` or
``context.update_cursor(...)``; a push sensor has no cursor.

Importable without a database: nothing here touches storage.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, overload

from arco.errors import InvalidDefinitionError, ValidationError
from arco.events.selectors import KeysSelector, PartitionSelector, RangeSelector
from arco.events.sensors import (
    MAX_INTERVAL_SECONDS,
    MAX_TIMEOUT_SECONDS,
    SensorKind,
    SensorSpec,
)
from arco.sdk.sensor_context import SensorEvaluationContext, build_sensor_context

SensorFn = Callable[..., object]


class DefaultSensorStatus(StrEnum):
    """Whether a sensor starts running when it is first synced (later toggles stick)."""

    RUNNING = "RUNNING"
    STOPPED = "STOPPED"


class HasKey(Protocol):
    """Anything with an asset key (an assets definition), usable in ``asset_selection``."""

    @property
    def key(self) -> str: ...


@dataclass(frozen=True, init=False)
class RunRequest:
    """A run the sensor asks for; ``run_key`` makes it happen at most once."""

    run_key: str | None
    asset_selection: tuple[str, ...] | None
    partition_key: str | None
    partition_keys: tuple[str, ...] | None
    partition_range: tuple[str, str] | None
    tags: Mapping[str, str]

    def __init__(
        self,
        run_key: str | None = None,
        *,
        asset_selection: Sequence[str | HasKey] | None = None,
        partition_key: str | None = None,
        partition_keys: Sequence[str] | None = None,
        partition_range: tuple[str, str] | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> None:
        forms = [partition_key, partition_keys, partition_range]
        if sum(form is not None for form in forms) > 1:
            raise ValidationError(
                "a RunRequest names its partitions one way only",
                field="partition_key",
                allowed=["partition_key", "partition_keys", "partition_range"],
            )
        if run_key is not None and not run_key:
            raise ValidationError("run_key must not be empty", field="run_key", value=run_key)
        values = {
            "run_key": run_key,
            "asset_selection": None if asset_selection is None else _asset_keys(asset_selection),
            "partition_key": partition_key,
            "partition_keys": None if partition_keys is None else tuple(partition_keys),
            "partition_range": partition_range,
            "tags": dict(tags or {}),
        }
        for attribute, value in values.items():
            object.__setattr__(self, attribute, value)

    def partition_selection(self) -> PartitionSelector | None:
        """The selector this request's partitions become in the RunRequested event."""
        if self.partition_key is not None:
            return KeysSelector(keys=(self.partition_key,))
        if self.partition_keys is not None:
            return KeysSelector(keys=self.partition_keys)
        if self.partition_range is not None:
            return RangeSelector(start=self.partition_range[0], end=self.partition_range[1])
        return None


@dataclass(frozen=True)
class SkipReason:
    """Return (or yield) this to say why the sensor requested nothing."""

    skip_message: str | None = None


@dataclass(frozen=True, init=False)
class SensorResult:
    """Run requests, a new cursor (``None`` keeps the old one) and a skip reason."""

    run_requests: tuple[RunRequest, ...]
    cursor: str | None
    skip_reason: str | None

    def __init__(
        self,
        run_requests: Iterable[RunRequest] | None = None,
        cursor: str | None = None,
        skip_reason: str | SkipReason | None = None,
    ) -> None:
        requests = tuple(run_requests or ())
        if not all(isinstance(r, RunRequest) for r in requests):
            raise ValidationError("run_requests must be RunRequest objects", field="run_requests")
        if cursor is not None and not isinstance(cursor, str):
            raise ValidationError(
                "a cursor is a string", field="cursor", value=repr(cursor), allowed="str"
            )
        reason = skip_reason.skip_message if isinstance(skip_reason, SkipReason) else skip_reason
        object.__setattr__(self, "run_requests", requests)
        object.__setattr__(self, "cursor", cursor)
        object.__setattr__(self, "skip_reason", reason)


@dataclass(frozen=True, init=False)
class SensorDefinition:
    """A sensor declared in code; synced into the ledger by name, evaluated by the daemon."""

    name: str
    kind: SensorKind
    fn: SensorFn
    asset_selection: tuple[str, ...]
    minimum_interval_seconds: int
    timeout_seconds: float
    default_status: DefaultSensorStatus
    tags: Mapping[str, str]
    description: str | None

    def __init__(
        self,
        fn: SensorFn,
        *,
        kind: SensorKind,
        name: str | None = None,
        asset_selection: Sequence[str | HasKey] = (),
        minimum_interval_seconds: int = 30,
        timeout_seconds: float = 60.0,
        default_status: DefaultSensorStatus | str = DefaultSensorStatus.STOPPED,
        tags: Mapping[str, str] | None = None,
        description: str | None = None,
    ) -> None:
        name = name if name is not None else getattr(fn, "__name__", "")
        if not name.strip():
            raise _invalid("name", name, "a non-empty name")
        if not 1 <= minimum_interval_seconds <= MAX_INTERVAL_SECONDS:
            allowed = f"an integer from 1 to {MAX_INTERVAL_SECONDS} (366 days)"
            raise _invalid("minimum_interval_seconds", minimum_interval_seconds, allowed)
        if not 0 < timeout_seconds <= MAX_TIMEOUT_SECONDS:
            allowed = f"a number > 0 and <= {MAX_TIMEOUT_SECONDS:g} (a day)"
            raise _invalid("timeout_seconds", timeout_seconds, allowed)
        if default_status not in set(DefaultSensorStatus):
            raise _invalid("default_status", default_status, list(DefaultSensorStatus))
        _check_arity(fn)
        values = {
            "name": name,
            "kind": kind,
            "fn": fn,
            "asset_selection": _asset_keys(asset_selection),
            "minimum_interval_seconds": minimum_interval_seconds,
            "timeout_seconds": float(timeout_seconds),
            "default_status": DefaultSensorStatus(default_status),
            "tags": dict(tags or {}),
            "description": description or inspect.getdoc(fn),
        }
        for attribute, value in values.items():
            object.__setattr__(self, attribute, value)

    def __call__(self, context: SensorEvaluationContext | None = None) -> object:
        """Run the raw function (what a unit test of the sensor calls)."""
        if _takes_context(self.fn):
            return self.fn(context or build_sensor_context(sensor_name=self.name))
        return self.fn()

    def evaluate(self, context: SensorEvaluationContext) -> SensorResult:
        """Run the function and normalize what it returns; ``cursor`` is the cursor to store."""
        result = _normalize(self(context))
        return SensorResult(
            result.run_requests, context._cursor_after(result.cursor), result.skip_reason
        )

    def to_spec(self) -> SensorSpec:
        """The ledger's definition of this sensor."""
        return SensorSpec(
            name=self.name,
            kind=self.kind,
            asset_selection=self.asset_selection,
            minimum_interval_seconds=self.minimum_interval_seconds,
            timeout_seconds=self.timeout_seconds,
            tags=dict(self.tags),
            description=self.description,
        )


@overload
def sensor(fn: SensorFn, /) -> SensorDefinition: ...
@overload
def sensor(
    fn: None = None,
    /,
    *,
    name: str | None = None,
    asset_selection: Sequence[str | HasKey] = (),
    minimum_interval_seconds: int = 30,
    timeout_seconds: float = 60.0,
    default_status: DefaultSensorStatus | str = DefaultSensorStatus.STOPPED,
    tags: Mapping[str, str] | None = None,
    description: str | None = None,
) -> Callable[[SensorFn], SensorDefinition]: ...
def sensor(
    fn: SensorFn | None = None,
    /,
    *,
    name: str | None = None,
    asset_selection: Sequence[str | HasKey] = (),
    minimum_interval_seconds: int = 30,
    timeout_seconds: float = 60.0,
    default_status: DefaultSensorStatus | str = DefaultSensorStatus.STOPPED,
    tags: Mapping[str, str] | None = None,
    description: str | None = None,
) -> SensorDefinition | Callable[[SensorFn], SensorDefinition]:
    """Declare a poll sensor: called with the cursor every ``minimum_interval_seconds``."""

    def wrap(function: SensorFn) -> SensorDefinition:
        return SensorDefinition(
            function,
            kind="poll",
            name=name,
            asset_selection=asset_selection,
            minimum_interval_seconds=minimum_interval_seconds,
            timeout_seconds=timeout_seconds,
            default_status=default_status,
            tags=tags,
            description=description,
        )

    return wrap if fn is None else wrap(fn)


@overload
def push_sensor(fn: SensorFn, /) -> SensorDefinition: ...
@overload
def push_sensor(
    fn: None = None,
    /,
    *,
    name: str | None = None,
    asset_selection: Sequence[str | HasKey] = (),
    timeout_seconds: float = 60.0,
    default_status: DefaultSensorStatus | str = DefaultSensorStatus.STOPPED,
    tags: Mapping[str, str] | None = None,
    description: str | None = None,
) -> Callable[[SensorFn], SensorDefinition]: ...
def push_sensor(
    fn: SensorFn | None = None,
    /,
    *,
    name: str | None = None,
    asset_selection: Sequence[str | HasKey] = (),
    timeout_seconds: float = 60.0,
    default_status: DefaultSensorStatus | str = DefaultSensorStatus.STOPPED,
    tags: Mapping[str, str] | None = None,
    description: str | None = None,
) -> SensorDefinition | Callable[[SensorFn], SensorDefinition]:
    """Declare a push sensor: called once per pushed message (``context.message``)."""

    def wrap(function: SensorFn) -> SensorDefinition:
        return SensorDefinition(
            function,
            kind="push",
            name=name,
            asset_selection=asset_selection,
            timeout_seconds=timeout_seconds,
            default_status=default_status,
            tags=tags,
            description=description,
        )

    return wrap if fn is None else wrap(fn)


def _normalize(raw: object) -> SensorResult:
    """Every shape a sensor may return, as one SensorResult (Dagster's rules)."""
    if raw is None:
        return SensorResult()
    if isinstance(raw, SensorResult):
        return raw
    if isinstance(raw, SkipReason):
        return SensorResult(skip_reason=raw)
    if isinstance(raw, RunRequest):
        return SensorResult([raw])
    if isinstance(raw, Iterable) and not isinstance(raw, str | bytes | Mapping):
        items = list(raw)
        if all(isinstance(item, RunRequest) for item in items):
            return SensorResult(items)
        if len(items) == 1 and isinstance(items[0], SkipReason | SensorResult):
            return _normalize(items[0])
    raise ValidationError(
        f"a sensor returned {type(raw).__name__}; expected a SensorResult, a SkipReason, "
        "None, or one or more RunRequests",
        field="return",
        value=type(raw).__name__,
        allowed=["SensorResult", "RunRequest", "list[RunRequest]", "SkipReason", "None"],
    )


def _asset_keys(selection: Sequence[str | HasKey]) -> tuple[str, ...]:
    if isinstance(selection, str):
        return (selection,)
    return tuple(item if isinstance(item, str) else item.key for item in selection)


def _required_positional(fn: SensorFn) -> tuple[int, int]:
    """(required, total) positional parameters of ``fn``."""
    parameters = [
        p
        for p in inspect.signature(fn).parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    return sum(p.default is p.empty for p in parameters), len(parameters)


def _takes_context(fn: SensorFn) -> bool:
    return _required_positional(fn)[1] >= 1


def _check_arity(fn: SensorFn) -> None:
    if _required_positional(fn)[0] > 1:
        raise _invalid("fn", getattr(fn, "__name__", fn), "a function of (context) or ()")


def _invalid(name: str, value: object, allowed: str | list[str]) -> InvalidDefinitionError:
    return InvalidDefinitionError(
        f"invalid sensor {name}: {value!r}; expected {allowed}",
        field=name,
        value=str(value),
        allowed=allowed,
    )
