"""The base of every event payload: a frozen model that knows its own key.

Each payload class names its ``type`` (a Literal used as the discriminator),
its ``VERSION`` and the formula of its idempotency key (DESIGN §2), so the
formula sits next to the fields it is computed from.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict

from arco.ids import sha256_hex


class Payload(BaseModel):
    """A typed event payload. Subclasses define ``type`` and ``idempotency_key``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    VERSION: ClassVar[int] = 1
    type: str

    def idempotency_key(self) -> str:
        raise NotImplementedError(type(self).__name__)

    def correlation_id(self) -> str | None:
        """The run this event belongs to, when there is one."""
        run_id = getattr(self, "run_id", None)
        return run_id if isinstance(run_id, str) else None


def hashed(text: str | None) -> str:
    """sha256 hex of an optional string (``None`` hashes as the empty string)."""
    return sha256_hex(text or "")
