"""Sensor definition events, cursor resets and SensorEvaluated."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from arco.events.payload import Payload, hashed

SensorKind = Literal["poll", "push"]


class SensorSpec(BaseModel):
    """Everything a sensor definition says; carried whole on create and update."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    kind: SensorKind
    asset_selection: tuple[str, ...] = ()
    minimum_interval_seconds: int = Field(default=30, ge=1)
    timeout_seconds: float = Field(default=60.0, gt=0)
    tags: dict[str, str] = Field(default_factory=dict)
    description: str | None = None


class _SensorDefinitionEvent(Payload):
    sensor_id: str
    definition_version: int = Field(ge=1)

    def idempotency_key(self) -> str:
        return f"sensor_def:{self.sensor_id}:{self.definition_version}"


class SensorCreated(_SensorDefinitionEvent):
    type: Literal["SensorCreated"] = "SensorCreated"
    spec: SensorSpec
    enabled: bool = True


class SensorUpdated(_SensorDefinitionEvent):
    type: Literal["SensorUpdated"] = "SensorUpdated"
    spec: SensorSpec


class SensorPaused(_SensorDefinitionEvent):
    type: Literal["SensorPaused"] = "SensorPaused"
    changed_by: str = "system"


class SensorResumed(_SensorDefinitionEvent):
    type: Literal["SensorResumed"] = "SensorResumed"
    changed_by: str = "system"


class SensorCursorReset(Payload):
    """Replace the cursor and bump ``state_version`` so in-flight evaluations go stale.

    Resetting does not make old run keys runnable again: they stay in the run-key
    index, so a sensor that re-emits them gets the existing runs back.
    """

    type: Literal["SensorCursorReset"] = "SensorCursorReset"
    sensor_id: str
    expected_state_version: int
    cursor: str | None = None
    changed_by: str = "system"

    def idempotency_key(self) -> str:
        return f"sensor_cursor_reset:{self.sensor_id}:{self.expected_state_version}"


EvalStatus = Literal["ok", "error"]


class PushMessage(BaseModel):
    """A message in the shape of a Pub/Sub push subscription."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    message_id: str = Field(min_length=1, max_length=512)
    data: str | None = None
    attributes: dict[str, str] = Field(default_factory=dict)
    publish_time: str | None = None


class SensorEvaluated(Payload):
    """One evaluation of a sensor; its RunRequested events travel in the same batch.

    Poll evaluations carry ``expected_state_version``: the fold accepts one only if
    the sensor is still at that version (compare-and-set on the cursor).
    """

    type: Literal["SensorEvaluated"] = "SensorEvaluated"
    sensor_id: str
    kind: SensorKind
    status: EvalStatus = "ok"
    message_id: str | None = None
    poll_epoch: int | None = None
    cursor_before: str | None = None
    cursor_after: str | None = None
    expected_state_version: int | None = None
    run_keys: tuple[str, ...] = ()
    skip_reason: str | None = None
    error: str | None = None

    @property
    def eval_id(self) -> str:
        return sensor_eval_id(self.sensor_id, self.message_id, self.poll_epoch, self.cursor_before)

    def idempotency_key(self) -> str:
        return f"sensor_eval:{self.eval_id}"


def sensor_eval_id(
    sensor_id: str, message_id: str | None, poll_epoch: int | None, cursor_before: str | None
) -> str:
    """``{sensor}:msg:{message_id}`` (push) or ``{sensor}:poll:{epoch}:{sha256(cursor)}`` (poll)."""
    if message_id is not None:
        return f"{sensor_id}:msg:{message_id}"
    return f"{sensor_id}:poll:{poll_epoch}:{hashed(cursor_before)}"


def push_run_key(sensor_id: str, message_id: str) -> str:
    """The default run key of a push message when the sensor names none."""
    return f"sensor:{sensor_id}:msg:{message_id}"
