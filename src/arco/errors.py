"""Every Arco error, each carrying the data a caller needs to act on it.

Errors hold the offending value, the field it came from, what would have been
allowed and the ids involved, so that the API can answer with a stable code and
the CLI can print something useful without parsing messages.  The HTTP status
lives here too (``status``) so one handler maps every error class.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import ClassVar

JsonScalar = str | int | float | bool | None


class ArcoError(Exception):
    """Base class: a stable ``code``, a message, and structured details."""

    code: ClassVar[str] = "arco_error"
    status: ClassVar[int] = 400

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        value: object = None,
        allowed: Sequence[str] | str | None = None,
        details: Mapping[str, object] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.value = value
        self.allowed = allowed
        self.details: dict[str, object] = dict(details or {})

    def to_dict(self) -> dict[str, object]:
        """The JSON error body served by the API and printed by ``--json``."""
        body: dict[str, object] = {"code": self.code, "message": self.message}
        if self.field is not None:
            body["field"] = self.field
        if self.value is not None:
            body["value"] = self.value if isinstance(self.value, JsonScalar) else str(self.value)
        if self.allowed is not None:
            body["allowed"] = self.allowed if isinstance(self.allowed, str) else list(self.allowed)
        if self.details:
            body["details"] = self.details
        return body


# --- validation (4xx: the caller sent something Arco cannot accept) ---------------


class ValidationError(ArcoError):
    code = "invalid_input"
    status = 422


class InvalidCronError(ValidationError):
    code = "invalid_cron"


class InvalidTimezoneError(ValidationError):
    code = "invalid_timezone"


class InvalidPartitionKeyError(ValidationError):
    code = "invalid_partition_key"


class InvalidPartitionRangeError(ValidationError):
    code = "invalid_partition_range"


class InvalidSelectorError(ValidationError):
    code = "invalid_selector"


class InvalidDefinitionError(ValidationError):
    """A user project (assets, schedules, sensors) that cannot be loaded."""

    code = "invalid_definition"


# --- lookups and conflicts --------------------------------------------------------


class NotFoundError(ArcoError):
    code = "not_found"
    status = 404


class ConflictError(ArcoError):
    code = "conflict"
    status = 409


class VersionConflictError(ConflictError):
    """An update carried an ``expected_state_version`` that is no longer current."""

    code = "version_conflict"


class IllegalTransitionError(ConflictError):
    """A state machine was asked to move along an edge it does not have."""

    code = "illegal_transition"


class IdempotencyKeyReusedError(ConflictError):
    """The same Idempotency-Key was sent again with a different request body."""

    code = "idempotency_key_reused"


# --- access -----------------------------------------------------------------------


class AuthenticationError(ArcoError):
    code = "unauthenticated"
    status = 401


# --- configuration and storage (not the caller's fault) ---------------------------


class ConfigurationError(ArcoError):
    code = "configuration_error"
    status = 500


class StorageError(ArcoError):
    """A database driver error, translated at the storage edge."""

    code = "storage_error"
    status = 503
