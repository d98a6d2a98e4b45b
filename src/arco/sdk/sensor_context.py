"""What a sensor function receives: the evaluation context and, for push sensors, the message.

Kept apart from the decorators so the runtime can build contexts without the
definition machinery, and so ``build_sensor_context`` is easy to find for tests.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from arco.errors import ValidationError
from arco.events.sensors import PushMessage


class SensorLogger(Protocol):
    """What ``context.log`` offers: a stdlib logger or a structlog bound logger both fit."""

    def debug(self, msg: str, *args: Any, **kwargs: Any) -> Any: ...
    def info(self, msg: str, *args: Any, **kwargs: Any) -> Any: ...
    def warning(self, msg: str, *args: Any, **kwargs: Any) -> Any: ...
    def error(self, msg: str, *args: Any, **kwargs: Any) -> Any: ...
    def exception(self, msg: str, *args: Any, **kwargs: Any) -> Any: ...


@dataclass(frozen=True)
class SensorMessage:
    """One pushed message as a push sensor sees it: ``data`` already base64-decoded."""

    message_id: str
    data: bytes
    attributes: Mapping[str, str] = field(default_factory=dict)
    publish_time: datetime | None = None

    @property
    def text(self) -> str:
        return self.data.decode()

    def json(self) -> Any:
        """``data`` parsed as JSON."""
        return json.loads(self.data)

    @classmethod
    def from_push(cls, message: PushMessage) -> SensorMessage:
        """Decode a Pub/Sub-shaped message; undecodable data or time is a ValidationError."""
        try:
            data = base64.b64decode(message.data or "", validate=True)
        except (binascii.Error, ValueError) as error:
            raise ValidationError(
                "message data is not valid base64", field="message.data", value=message.data
            ) from error
        return cls(message.message_id, data, dict(message.attributes), _publish_time(message))


def _publish_time(message: PushMessage) -> datetime | None:
    if message.publish_time is None:
        return None
    try:
        parsed = datetime.fromisoformat(message.publish_time)
    except ValueError as error:
        raise ValidationError(
            "publish_time is not an RFC 3339 timestamp",
            field="message.publish_time",
            value=message.publish_time,
        ) from error
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


_UNSET = object()


class SensorEvaluationContext:
    """What a sensor function receives: cursor, ids, the evaluation time, a logger, a message."""

    def __init__(
        self,
        *,
        sensor_name: str,
        now: datetime,
        cursor: str | None = None,
        sensor_id: str | None = None,
        tenant_id: str | None = None,
        workspace_id: str | None = None,
        last_evaluated_at: datetime | None = None,
        message: SensorMessage | None = None,
        log: SensorLogger | None = None,
    ) -> None:
        self.sensor_name = sensor_name
        self.sensor_id = sensor_id
        self.tenant_id = tenant_id
        self.workspace_id = workspace_id
        self.now = now
        self.last_evaluated_at = last_evaluated_at
        self.log: SensorLogger = log or logging.getLogger(f"arco.sensor.{sensor_name}")
        self._cursor = cursor
        self._message = message
        self._new_cursor: object = _UNSET

    @property
    def cursor(self) -> str | None:
        """The cursor this evaluation started from (``None`` for push sensors)."""
        return self._cursor

    @property
    def logger(self) -> SensorLogger:
        return self.log

    @property
    def message(self) -> SensorMessage:
        """The pushed message (push sensors only)."""
        if self._message is None:
            raise ValidationError(
                "only push sensors receive a message", field="message", allowed=["push"]
            )
        return self._message

    @property
    def is_push(self) -> bool:
        return self._message is not None

    def update_cursor(self, cursor: str | None) -> None:
        """Set the cursor stored when this evaluation is accepted (poll sensors only)."""
        if cursor is not None and not isinstance(cursor, str):
            raise ValidationError(
                "a cursor is a string", field="cursor", value=repr(cursor), allowed="str"
            )
        self._new_cursor = cursor

    def _cursor_after(self, returned: str | None) -> str | None:
        updated = self._new_cursor is not _UNSET
        if self.is_push and (updated or returned is not None):
            raise ValidationError(
                "push sensors have no cursor; return run requests only",
                field="cursor",
                allowed=["poll"],
            )
        if updated and returned is not None:
            raise ValidationError(
                "set the cursor with update_cursor() or SensorResult(cursor=...), not both",
                field="cursor",
            )
        if returned is not None:
            return returned
        return self._new_cursor if updated else self._cursor  # type: ignore[return-value]


def build_sensor_context(
    *,
    cursor: str | None = None,
    now: datetime | None = None,
    message: SensorMessage | None = None,
    sensor_name: str = "test_sensor",
    last_evaluated_at: datetime | None = None,
) -> SensorEvaluationContext:
    """A context for calling a sensor in a unit test."""
    return SensorEvaluationContext(
        sensor_name=sensor_name,
        now=now or datetime(2024, 1, 1, tzinfo=UTC),
        cursor=cursor,
        last_evaluated_at=last_evaluated_at,
        message=message,
    )
