"""RuntimeEnv: everything a runner pass needs from the edge, in one place.

Controller passes (schedules, sensors, backfills, runs, dispatch, timers) read
projections through ``reader``, call their pure controller with ``now``, and
append each decision as one batch through :meth:`RuntimeEnv.append`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from arco import metrics
from arco.clock import Clock
from arco.events import OrchestrationEvent, RunRequested
from arco.ledger import AppendOutcome, SqlLedger
from arco.logs import get_logger
from arco.secrets import TenantSecrets
from arco.storage.reader import ProjectionReader

# Events per append when a pass packs several whole decisions into one transaction.
MAX_EVENTS_PER_APPEND = 500


@dataclass
class RuntimeEnv:
    ledger: SqlLedger
    reader: ProjectionReader
    secrets: TenantSecrets
    clock: Clock
    log: Any = field(default_factory=lambda: get_logger("runtime"))

    def append(self, batch: Sequence[OrchestrationEvent]) -> list[AppendOutcome]:
        """Append one decision atomically and count what it did."""
        outcomes = self.ledger.append(batch)
        for event, outcome in zip(batch, outcomes, strict=True):
            metrics.EVENTS_APPENDED.labels("duplicate" if outcome.duplicate else "appended").inc()
            if isinstance(event.data, RunRequested) and not outcome.duplicate:
                metrics.RUN_REQUESTS.labels(event.data.source.kind).inc()
        return outcomes

    def append_decisions(
        self, decisions: Sequence[Sequence[OrchestrationEvent]]
    ) -> list[list[AppendOutcome]]:
        """Append whole decisions, several per transaction, never one split across two.

        One append per decision is what atomicity needs; packing several keeps each
        atomic and saves a transaction per decision, which is what lets a pass with a
        thousand due ticks (or chunks) finish in well under a second.
        """
        outcomes: list[list[AppendOutcome]] = []
        for group in _groups(decisions):
            flat = self.append([event for decision in group for event in decision])
            start = 0
            for decision in group:
                outcomes.append(flat[start : start + len(decision)])
                start += len(decision)
        return outcomes


def _groups(
    decisions: Sequence[Sequence[OrchestrationEvent]],
) -> Iterator[list[Sequence[OrchestrationEvent]]]:
    group: list[Sequence[OrchestrationEvent]] = []
    size = 0
    for decision in decisions:
        if group and size + len(decision) > MAX_EVENTS_PER_APPEND:
            yield group
            group, size = [], 0
        group.append(decision)
        size += len(decision)
    if group:
        yield group


@dataclass
class PassReport:
    """What one pass of one controller did; ``next_due`` lets the daemon sleep precisely."""

    controller: str
    decisions: int = 0
    appended: int = 0
    duplicates: int = 0
    errors: int = 0
    next_due: datetime | None = None

    def record(self, outcomes: Sequence[AppendOutcome]) -> None:
        self.decisions += 1
        self.appended += sum(1 for o in outcomes if not o.duplicate)
        self.duplicates += sum(1 for o in outcomes if o.duplicate)
