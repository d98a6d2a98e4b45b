"""Sensor decisions (pure): which poll sensors are due, and an outcome as one batch.

The runner evaluates user code at the edge and hands this module what came out
(:class:`Outcome`); this module turns it into one decision: a SensorEvaluated
followed by its RunRequested events.  Poll evaluations carry the state version
they started from, so that of several evaluations from the same state the fold
accepts exactly one (compare-and-set on the cursor).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from arco.events import (
    OrchestrationEvent,
    PartitionSelector,
    Payload,
    RequestedRun,
    SensorEvaluated,
    SensorSource,
    SensorSpec,
)
from arco.events.sensors import poll_run_key, push_run_key
from arco.ids import request_fingerprint, run_id_from_run_key

PAUSED_REASON = "sensor is paused"

# Names the ``index``-th request an evaluation left without a run key.
_KeyNamer = Callable[[int], str]


@dataclass(frozen=True)
class SensorView:
    """A sensor as the controller sees it: definition plus cursor state."""

    tenant_id: str
    workspace_id: str
    sensor_id: str
    spec: SensorSpec
    enabled: bool
    definition_version: int
    cursor: str | None = None
    state_version: int = 0
    last_evaluated_at: datetime | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def kind(self) -> str:
        return self.spec.kind

    def due_at(self, now: datetime) -> datetime:
        """When this poll sensor may next be evaluated (``now`` if it never was)."""
        if self.last_evaluated_at is None:
            return now
        try:
            return self.last_evaluated_at + timedelta(seconds=self.spec.minimum_interval_seconds)
        except OverflowError:  # an interval stored before intervals were bounded
            return datetime.max.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Request:
    """One run the user's code asked for, before Arco names and fingerprints it."""

    run_key: str | None = None
    asset_selection: tuple[str, ...] | None = None
    partition_selection: PartitionSelector | None = None
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Outcome:
    """What one evaluation of user code produced: requests and a cursor, or an error."""

    requests: tuple[Request, ...] = ()
    cursor_after: str | None = None
    skip_reason: str | None = None
    error: str | None = None

    @classmethod
    def failed(cls, message: str) -> Outcome:
        return cls(error=message)


def sensor_view(
    tenant_id: str,
    workspace_id: str,
    definition: Mapping[str, object],
    state: Mapping[str, object] | None,
) -> SensorView:
    """The view of one sensor from its ``sensor_definitions`` and ``sensor_state`` docs."""
    spec = SensorSpec.model_validate({name: definition[name] for name in SensorSpec.model_fields})
    state = state or {}
    last = state.get("last_evaluated_at")
    version = state.get("state_version", 0)
    cursor = state.get("cursor")
    return SensorView(
        tenant_id=tenant_id,
        workspace_id=workspace_id,
        sensor_id=str(definition["sensor_id"]),
        spec=spec,
        enabled=bool(definition["enabled"]),
        definition_version=int(str(definition["definition_version"])),
        cursor=cursor if isinstance(cursor, str) else None,
        state_version=version if isinstance(version, int) else 0,
        last_evaluated_at=datetime.fromisoformat(last) if isinstance(last, str) else None,
    )


def due_sensors(sensors: Iterable[SensorView], now: datetime) -> list[SensorView]:
    """Enabled poll sensors whose minimum interval has passed since their last evaluation."""
    return [s for s in sensors if _polled(s) and s.due_at(now) <= now]


def next_due(sensors: Iterable[SensorView], now: datetime) -> datetime | None:
    """The earliest instant (not before ``now``) at which some poll sensor is due."""
    instants = [max(s.due_at(now), now) for s in sensors if _polled(s)]
    return min(instants, default=None)


def _polled(sensor: SensorView) -> bool:
    return sensor.enabled and sensor.kind == "poll"


def decide_poll(
    sensor: SensorView, now: datetime, outcome: Outcome, secret: str
) -> list[OrchestrationEvent]:
    """One poll evaluation from ``sensor``'s current cursor and state version, as one batch."""
    epoch = int(now.timestamp())
    evaluation: dict[str, object] = {
        "sensor_id": sensor.sensor_id,
        "kind": "poll",
        "poll_epoch": epoch,
        "cursor_before": sensor.cursor,
        "cursor_after": sensor.cursor,  # what an error keeps
        "expected_state_version": sensor.state_version,
    }

    def unnamed(index: int) -> str:
        return poll_run_key(sensor.sensor_id, epoch, sensor.cursor, index)

    return _batch(sensor, now, evaluation, outcome, unnamed, secret, outcome.cursor_after)


def decide_push(
    sensor: SensorView, now: datetime, message_id: str, outcome: Outcome, secret: str
) -> list[OrchestrationEvent]:
    """One evaluation of a pushed message, as one batch (a push sensor keeps no cursor)."""
    evaluation: dict[str, object] = {
        "sensor_id": sensor.sensor_id,
        "kind": "push",
        "message_id": message_id,
    }

    def unnamed(index: int) -> str:
        return push_run_key(sensor.sensor_id, message_id, index)

    return _batch(sensor, now, evaluation, outcome, unnamed, secret, None)


def _batch(
    sensor: SensorView,
    now: datetime,
    evaluation: dict[str, object],
    outcome: Outcome,
    unnamed: _KeyNamer,
    secret: str,
    cursor_after: str | None,
) -> list[OrchestrationEvent]:
    runs: tuple[RequestedRun, ...] = ()
    error = outcome.error
    if error is None:
        runs, error = _requested_runs(sensor, outcome.requests, unnamed, secret)
    if error is not None:
        data = SensorEvaluated.model_validate({**evaluation, "status": "error", "error": error})
    else:
        data = SensorEvaluated.model_validate(
            {
                **evaluation,
                "status": "ok" if runs else "skipped",
                "cursor_after": cursor_after,
                "run_keys": tuple(run.run_key for run in runs),
                "run_requests": runs,
                "skip_reason": outcome.skip_reason,
            }
        )
    head = _event(sensor, data, now)
    source = SensorSource(sensor_id=sensor.sensor_id, eval_id=data.eval_id)
    tail = [
        _event(sensor, run.run_requested(source), now, causation_id=head.event_id) for run in runs
    ]
    return [head, *tail]


def _requested_runs(
    sensor: SensorView, requests: tuple[Request, ...], unnamed: _KeyNamer, secret: str
) -> tuple[tuple[RequestedRun, ...], str | None]:
    """Named, fingerprinted requests (each distinct one once), or the reason they are invalid."""
    runs: dict[tuple[str, str], RequestedRun] = {}
    for index, request in enumerate(requests):
        assets = request.asset_selection or sensor.spec.asset_selection
        if not assets:
            return (), (
                f"run request {index} names no assets and the sensor has no asset_selection"
            )
        run_key = request.run_key or unnamed(index)
        selection = request.partition_selection
        tags = dict(request.tags)
        fingerprint = request_fingerprint(
            list(assets), None if selection is None else selection.model_dump(mode="json"), tags
        )
        runs.setdefault(
            (run_key, fingerprint),
            RequestedRun(
                run_key=run_key,
                run_id=run_id_from_run_key(sensor.tenant_id, sensor.workspace_id, run_key, secret),
                request_fingerprint=fingerprint,
                asset_selection=tuple(assets),
                partition_selection=selection,
                tags=tags,
            ),
        )
    return tuple(runs.values()), None


def _event(
    sensor: SensorView, data: Payload, now: datetime, *, causation_id: str | None = None
) -> OrchestrationEvent:
    return OrchestrationEvent.new(
        sensor.tenant_id, sensor.workspace_id, data, now=now, causation_id=causation_id
    )
