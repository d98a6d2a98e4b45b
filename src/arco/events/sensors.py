"""Sensor definition events, cursor resets and SensorEvaluated.

Every operator action on a sensor (create, update, pause, resume, cursor reset)
takes the next ``definition_version``, so its idempotency key is
``sensor_def:{sensor_id}:{definition_version}`` and the fold applies it only
when its version is newer than the definition's: a redelivered action is a
no-op, and two operators racing on the same version collide at the ledger.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from arco.events.payload import Payload, hashed
from arco.events.runs import RunRequested
from arco.events.selectors import PartitionSelector
from arco.events.sources import SourceRef

SensorKind = Literal["poll", "push"]


MAX_INTERVAL_SECONDS = 366 * 86_400  # a sensor polled less than yearly is a schedule
MAX_TIMEOUT_SECONDS = 86_400.0  # an evaluation holds a daemon thread for at most a day


class SensorSpec(BaseModel):
    """Everything a sensor definition says; carried whole on create and update."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    kind: SensorKind
    asset_selection: tuple[str, ...] = ()
    minimum_interval_seconds: int = Field(default=30, ge=1, le=MAX_INTERVAL_SECONDS)
    timeout_seconds: float = Field(default=60.0, gt=0, le=MAX_TIMEOUT_SECONDS)
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


class SensorCursorReset(_SensorDefinitionEvent):
    """Replace a poll sensor's cursor and bump ``state_version``.

    The bump makes every evaluation still in flight (started from the old
    version) stale: the fold records it as ``skipped_stale_cursor`` and creates
    none of its runs.

    Resetting does NOT make old run keys runnable again: they stay in the
    run-key index, so a sensor that re-emits a key it emitted before the reset
    gets the existing run back (same fingerprint) or a recorded conflict (other
    fingerprint), never a second run.  To re-run, emit new run keys.
    """

    type: Literal["SensorCursorReset"] = "SensorCursorReset"
    cursor: str | None = None
    changed_by: str = "system"


EvalStatus = Literal["ok", "skipped", "error"]


class PushMessage(BaseModel):
    """A message in the shape of a Pub/Sub push subscription (``data`` is base64)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    message_id: str = Field(min_length=1, max_length=512)
    data: str | None = None
    attributes: dict[str, str] = Field(default_factory=dict)
    publish_time: str | None = None


class RequestedRun(BaseModel):
    """One run an evaluation asks for, as carried inside its SensorEvaluated.

    The same request also travels as a RunRequested right after the evaluation.
    The fold creates the run when it *accepts* the evaluation, from this copy:
    a RunRequested can be dropped at append as a duplicate of one a stale
    evaluation carried earlier (same key and fingerprint), and the run must not
    be lost with it.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    run_key: str = Field(min_length=1)
    run_id: str
    request_fingerprint: str
    asset_selection: tuple[str, ...]
    partition_selection: PartitionSelector | None = None
    tags: dict[str, str] = Field(default_factory=dict)

    def run_requested(self, source: SourceRef) -> RunRequested:
        """The RunRequested event payload of this request."""
        return RunRequested(
            run_key=self.run_key,
            run_id=self.run_id,
            request_fingerprint=self.request_fingerprint,
            asset_selection=self.asset_selection,
            partition_selection=self.partition_selection,
            tags=self.tags,
            source=source,
        )


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
    run_requests: tuple[RequestedRun, ...] = ()
    skip_reason: str | None = None
    error: str | None = None

    @model_validator(mode="after")
    def _keys_match_requests(self) -> SensorEvaluated:
        if self.run_requests and self.run_keys != tuple(r.run_key for r in self.run_requests):
            raise ValueError("run_keys must list the keys of run_requests, in order")
        return self

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


def push_run_key(sensor_id: str, message_id: str, index: int = 0) -> str:
    """The run key of a push message's ``index``-th request when the sensor names none.

    The first is ``sensor:{sensor_id}:msg:{message_id}`` (DESIGN §2); any further
    unnamed request of the same message gets its position appended.
    """
    key = f"sensor:{sensor_id}:msg:{message_id}"
    return key if index == 0 else f"{key}:{index}"


def poll_run_key(sensor_id: str, poll_epoch: int, cursor_before: str | None, index: int) -> str:
    """The run key of a poll evaluation's ``index``-th unnamed request.

    Unique per evaluation, so an unnamed request runs once per accepted
    evaluation, like Dagster's ``run_key=None``.
    """
    return f"sensor:{sensor_eval_id(sensor_id, None, poll_epoch, cursor_before)}:{index}"
