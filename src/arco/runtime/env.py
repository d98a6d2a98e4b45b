"""RuntimeEnv: everything a runner pass needs from the edge, in one place.

Controller passes (schedules, sensors, backfills, runs, dispatch, timers) read
projections through ``reader``, call their pure controller with ``now``, and
append each decision as one batch through :meth:`RuntimeEnv.append`.
"""

from __future__ import annotations

from collections.abc import Sequence
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
