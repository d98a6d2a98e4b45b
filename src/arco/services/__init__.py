"""Service functions: what the API and the CLI both call (no SQL, no HTTP here).

A mutation validates its input, builds events, appends them as one batch and
returns :class:`Accepted`; reads go through the ProjectionReader.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

import pydantic

from arco.clock import Clock
from arco.errors import ValidationError
from arco.events import OrchestrationEvent, Payload, StoredEvent
from arco.fold.rows import Scope
from arco.ledger import AppendOutcome, SqlLedger
from arco.secrets import TenantSecrets
from arco.storage.reader import ProjectionReader

M = TypeVar("M", bound=pydantic.BaseModel)


@dataclass(frozen=True)
class Accepted:
    """A mutation's answer: the event that carries it (``duplicate`` if it was already there)."""

    event_id: str
    offset: int
    duplicate: bool
    resource_id: str | None = None


@dataclass
class ServiceContext:
    """One caller's view: its tenant/workspace scope and the store."""

    scope: Scope
    ledger: SqlLedger
    reader: ProjectionReader
    secrets: TenantSecrets
    clock: Clock
    actor: str = "system"

    def event(self, data: Payload, *, causation_id: str | None = None) -> OrchestrationEvent:
        return OrchestrationEvent.new(
            self.scope.tenant_id,
            self.scope.workspace_id,
            data,
            now=self.clock.now(),
            causation_id=causation_id,
        )

    def append(self, batch: Sequence[OrchestrationEvent]) -> list[AppendOutcome]:
        return self.ledger.append(batch)

    def accept(
        self, batch: Sequence[OrchestrationEvent], resource_id: str | None = None
    ) -> Accepted:
        """Append ``batch`` and answer with its first event."""
        outcomes = self.append(batch)
        first = outcomes[0]
        return Accepted(batch[0].event_id, first.offset, first.duplicate, resource_id)

    def event_at(self, offset: int) -> StoredEvent | None:
        """The event at ``offset`` if it is in this scope."""
        scope = self.scope
        found = self.ledger.read(
            after_offset=offset - 1,
            limit=1,
            tenant_id=scope.tenant_id,
            workspace_id=scope.workspace_id,
        )
        return found[0] if found and found[0].offset == offset else None

    @property
    def secret(self) -> str:
        return self.secrets.for_tenant(self.scope.tenant_id)


def validated(model: type[M], fields: Mapping[str, object]) -> M:
    """``model`` built from ``fields``; the first failure as a ValidationError naming the field."""
    try:
        return model.model_validate(fields)
    except pydantic.ValidationError as error:
        problem = error.errors()[0]
        field = ".".join(str(part) for part in problem["loc"]) or "body"
        raise ValidationError(
            f"{field}: {problem['msg']}", field=field, value=problem.get("input")
        ) from None
