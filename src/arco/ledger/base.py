"""The Ledger contract: atomic batch append with key dedup, ordered reads.

Every backend passes the same contract tests (tests/contract).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from arco.events import OrchestrationEvent, StoredEvent

DEFAULT_DEDUP_TTL = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class Appended:
    """The event was written at ``offset``."""

    event_id: str
    offset: int

    @property
    def duplicate(self) -> bool:
        return False


@dataclass(frozen=True, slots=True)
class Duplicate:
    """The event's idempotency key was already appended, at ``duplicate_of``."""

    event_id: str
    duplicate_of: int

    @property
    def duplicate(self) -> bool:
        return True

    @property
    def offset(self) -> int:
        return self.duplicate_of


AppendOutcome = Appended | Duplicate


class Ledger(Protocol):
    """An append-only, totally ordered event log."""

    def append(self, batch: Sequence[OrchestrationEvent]) -> list[AppendOutcome]:
        """Append all new events of ``batch`` atomically; one outcome per event, in order."""
        ...

    def read(
        self,
        after_offset: int = 0,
        limit: int = 1000,
        *,
        tenant_id: str | None = None,
        workspace_id: str | None = None,
    ) -> list[StoredEvent]:
        """Events with offset > ``after_offset`` in offset order."""
        ...

    def head(self) -> int:
        """The highest offset appended so far (0 for an empty ledger)."""
        ...

    def prune_expired_keys(self) -> int:
        """Forget idempotency keys older than the TTL; returns how many went."""
        ...
