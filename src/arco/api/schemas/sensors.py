"""Bodies of the sensor routes (``/sensors``): definitions, evaluations, pushed messages."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from arco.api.models import PageOut
from arco.api.schemas.numbers import Int64
from arco.events import PushMessage
from arco.ids import new_ulid
from arco.sdk.sensor_context import SensorMessage

# --- request bodies ------------------------------------------------------------------


class SensorCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, description="Unique in the workspace")
    kind: Literal["poll", "push"] = Field(
        description="poll: called on an interval; push: per message"
    )
    asset_selection: list[str] = Field(default_factory=list, description="Assets its runs target")
    minimum_interval_seconds: Int64 = Field(default=30, ge=1, description="Poll sensors only")
    timeout_seconds: float = Field(default=60.0, gt=0, description="Per evaluation")
    tags: dict[str, str] = Field(default_factory=dict)
    description: str | None = Field(default=None, max_length=10_000)
    enabled: bool = Field(default=True, description="false: created paused")
    client_request_id: str | None = Field(
        default=None, min_length=1, max_length=200, description="Like Idempotency-Key"
    )


class SensorPatch(BaseModel):
    """Only the fields sent change; ``kind`` cannot change."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    kind: Literal["poll", "push"] | None = None
    asset_selection: list[str] | None = None
    minimum_interval_seconds: Int64 | None = Field(default=None, ge=1)
    timeout_seconds: float | None = Field(default=None, gt=0)
    tags: dict[str, str] | None = None
    description: str | None = Field(default=None, max_length=10_000)
    expected_definition_version: Int64 | None = Field(
        default=None, ge=1, description="409 version_conflict unless this is still current"
    )


class CursorReset(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cursor: str | None = Field(default=None, description="The new cursor; null starts over")
    expected_state_version: Int64 | None = Field(
        default=None, ge=0, description="409 version_conflict unless this is still current"
    )


class _MessageBody(BaseModel):
    # Pub/Sub sends both spellings and may add fields; unknown ones are ignored.
    model_config = ConfigDict(extra="ignore")

    data: str | None = Field(default=None, description="base64")
    attributes: dict[str, str] = Field(default_factory=dict)
    publish_time: str | None = Field(
        default=None,
        validation_alias=AliasChoices("publishTime", "publish_time"),
        description="RFC 3339",
    )

    def _push(self, message_id: str) -> PushMessage:
        """The ledger's message, after checking that data and time decode (else 422)."""
        message = PushMessage(
            message_id=message_id,
            data=self.data,
            attributes=self.attributes,
            publish_time=self.publish_time,
        )
        SensorMessage.from_push(message)
        return message


class PubSubMessage(_MessageBody):
    """A Pub/Sub message: ``messageId`` or ``message_id``; ``data`` is base64."""

    message_id: str = Field(
        min_length=1,
        max_length=512,
        validation_alias=AliasChoices("messageId", "message_id"),
        description="Redelivering the same id creates nothing new",
    )

    def to_push(self) -> PushMessage:
        return self._push(self.message_id)


class SampleMessage(_MessageBody):
    """A sample message for a manual evaluation; without ``message_id``, a fresh one."""

    message_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=512,
        validation_alias=AliasChoices("messageId", "message_id"),
    )

    def to_push(self) -> PushMessage:
        # Generated here, not as a field default, so a retried request hashes the same.
        return self._push(self.message_id or f"manual-{new_ulid()}")


class PushEnvelope(BaseModel):
    """The body of a Pub/Sub push subscription."""

    model_config = ConfigDict(extra="ignore")

    message: PubSubMessage
    subscription: str | None = None


class EvaluateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dry_run: bool = Field(default=True, description="true: append nothing, show the decision")
    cursor: str | None = Field(
        default=None, description="Poll sensors: evaluate from this cursor (absent: the stored one)"
    )
    sample_payload: SampleMessage | None = Field(
        default=None, description="Push sensors: the message to evaluate"
    )


# --- responses ----------------------------------------------------------------------


class SensorOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    sensor_id: str
    name: str
    kind: str
    enabled: bool
    status: str | None = Field(default=None, description="running or paused")
    asset_selection: list[str] = Field(default_factory=list)
    minimum_interval_seconds: Int64
    timeout_seconds: float
    tags: dict[str, str] = Field(default_factory=dict)
    description: str | None = None
    definition_version: Int64
    cursor: str | None = None
    state_version: Int64 = 0
    last_evaluated_at: str | None = None
    last_eval_status: str | None = None
    created_at: str | None = None
    updated_at: str | None = None


class SensorPage(PageOut):
    items: list[SensorOut]
    next_cursor: str | None = None


class EvalOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    eval_id: str
    sensor_id: str
    kind: str
    status: str = Field(description="ok, skipped, error or skipped_stale_cursor")
    evaluated_at: str
    message_id: str | None = None
    cursor_before: str | None = None
    cursor_after: str | None = None
    run_keys: list[str] = Field(default_factory=list)
    skip_reason: str | None = None
    error: str | None = None


class EvalPage(PageOut):
    items: list[EvalOut]
    next_cursor: str | None = None


class RequestedRunOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    run_key: str
    run_id: str
    asset_selection: list[str]
    partition_selection: dict[str, Any] | None = None
    tags: dict[str, str] = Field(default_factory=dict)


class EvaluationOut(BaseModel):
    """What one evaluation decided; ``appended`` says whether it is in the ledger now."""

    sensor_id: str
    eval_id: str
    kind: str
    status: str
    run_requests: list[RequestedRunOut]
    cursor_before: str | None = None
    cursor_after: str | None = None
    skip_reason: str | None = None
    error: str | None = None
    dry_run: bool
    appended: bool
    duplicate: bool = Field(description="This evaluation was already recorded (redelivery)")
    accepted_event_id: str | None = Field(
        default=None, description="The recorded evaluation; usable as wait_for_event_id"
    )
    offset: Int64 | None = None
