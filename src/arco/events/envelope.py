"""The envelope every event travels in, and reading events back from storage.

``OrchestrationEvent.new(tenant, workspace, data, now=...)`` derives the type,
version, idempotency key, correlation id and source from the payload.  Reading
is tolerant: an older ``event_version`` is upcast, and an event type this code
does not know is kept as :class:`UnknownEvent` so the fold can skip it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from arco.events.backfills import BackfillChunkPlanned, BackfillCreated, BackfillStateChanged
from arco.events.execution import (
    DispatchRequested,
    PlanCreated,
    RunCancelRequested,
    RunTriggered,
    TaskFinished,
    TaskHeartbeat,
    TaskStarted,
    TimerFired,
    TimerRequested,
)
from arco.events.payload import Payload
from arco.events.runs import RunRequested
from arco.events.schedules import (
    ScheduleCreated,
    SchedulePaused,
    ScheduleResumed,
    ScheduleTicked,
    ScheduleUpdated,
)
from arco.events.sensors import (
    SensorCreated,
    SensorCursorReset,
    SensorEvaluated,
    SensorPaused,
    SensorResumed,
    SensorUpdated,
)
from arco.ids import derived_ulid

KnownPayload = Annotated[
    ScheduleCreated
    | ScheduleUpdated
    | SchedulePaused
    | ScheduleResumed
    | ScheduleTicked
    | SensorCreated
    | SensorUpdated
    | SensorPaused
    | SensorResumed
    | SensorCursorReset
    | SensorEvaluated
    | RunRequested
    | BackfillCreated
    | BackfillChunkPlanned
    | BackfillStateChanged
    | RunTriggered
    | PlanCreated
    | RunCancelRequested
    | DispatchRequested
    | TaskStarted
    | TaskHeartbeat
    | TaskFinished
    | TimerRequested
    | TimerFired,
    Field(discriminator="type"),
]

PAYLOAD_TYPES: dict[str, type[Payload]] = {
    cls.model_fields["type"].default: cls
    for cls in (
        ScheduleCreated,
        ScheduleUpdated,
        SchedulePaused,
        ScheduleResumed,
        ScheduleTicked,
        SensorCreated,
        SensorUpdated,
        SensorPaused,
        SensorResumed,
        SensorCursorReset,
        SensorEvaluated,
        RunRequested,
        BackfillCreated,
        BackfillChunkPlanned,
        BackfillStateChanged,
        RunTriggered,
        PlanCreated,
        RunCancelRequested,
        DispatchRequested,
        TaskStarted,
        TaskHeartbeat,
        TaskFinished,
        TimerRequested,
        TimerFired,
    )
}


class UnknownEvent(BaseModel):
    """A payload of a type this code does not know: kept verbatim, folded as a no-op."""

    model_config = ConfigDict(frozen=True)

    type: str
    raw: dict[str, Any]


# (event_type, from_version) -> function turning that version's payload dict into
# the next version's.  Empty while every payload is at version 1; a payload that
# changes shape adds its upcaster here and bumps its VERSION.
Upcaster = Callable[[dict[str, Any]], dict[str, Any]]
UPCASTERS: dict[tuple[str, int], Upcaster] = {}


class OrchestrationEvent(BaseModel):
    """One ledger event: envelope fields plus a typed payload."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: str
    event_type: str
    event_version: int
    timestamp: datetime
    source: str
    tenant_id: str
    workspace_id: str
    idempotency_key: str
    correlation_id: str | None = None
    causation_id: str | None = None
    data: KnownPayload

    @classmethod
    def new(
        cls,
        tenant_id: str,
        workspace_id: str,
        data: Payload,
        *,
        now: datetime,
        causation_id: str | None = None,
        event_id: str | None = None,
    ) -> OrchestrationEvent:
        """Wrap ``data``; without ``event_id`` the id is derived from ``now`` and the key."""
        key = data.idempotency_key()
        return cls(
            event_id=event_id or derived_ulid(now, f"{tenant_id}/{workspace_id}/{key}"),
            event_type=data.type,
            event_version=data.VERSION,
            timestamp=now.astimezone(UTC),
            source=f"arco/{tenant_id}/{workspace_id}",
            tenant_id=tenant_id,
            workspace_id=workspace_id,
            idempotency_key=key,
            correlation_id=data.correlation_id(),
            causation_id=causation_id,
            data=data,
        )

    def to_json(self) -> str:
        return self.model_dump_json()


class StoredEvent(BaseModel):
    """An event as read back from the ledger: its offset and a payload, maybe unknown."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    offset: int
    event_id: str
    event_type: str
    event_version: int
    timestamp: datetime
    tenant_id: str
    workspace_id: str
    idempotency_key: str
    correlation_id: str | None
    causation_id: str | None
    data: Payload | UnknownEvent

    @property
    def known(self) -> bool:
        return not isinstance(self.data, UnknownEvent)

    @classmethod
    def of(cls, event: OrchestrationEvent, offset: int) -> StoredEvent:
        """The stored form of ``event`` at ``offset`` (for in-memory folds and tests)."""
        fields = event.model_dump(exclude={"data", "source"})
        return cls(offset=offset, data=event.data, **fields)


_PAYLOAD_ADAPTER: TypeAdapter[Any] = TypeAdapter(KnownPayload)


def parse_payload(event_type: str, version: int, raw: dict[str, Any]) -> Payload | UnknownEvent:
    """Typed payload for a known type (upcast to the current version), else UnknownEvent."""
    cls = PAYLOAD_TYPES.get(event_type)
    if cls is None:
        return UnknownEvent(type=event_type, raw=raw)
    while version < cls.VERSION:
        raw = UPCASTERS[(event_type, version)](raw)
        version += 1
    result: Payload = _PAYLOAD_ADAPTER.validate_python(raw)
    return result


def stored_event_from_json(offset: int, body: str) -> StoredEvent:
    """Rebuild a StoredEvent from the JSON envelope the ledger keeps."""
    envelope: dict[str, Any] = json.loads(body)
    raw_data: dict[str, Any] = envelope.pop("data")
    return StoredEvent(
        offset=offset,
        data=parse_payload(envelope["event_type"], envelope["event_version"], raw_data),
        **envelope,
    )


EventSource = Literal["controller", "api", "worker"]
