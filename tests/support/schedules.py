"""Schedule test helpers: specs, and an in-memory controller + fold loop with a manual ``now``.

:class:`Simulation` drives the real controller and the real fold over :class:`MemoryRows`,
so unit tests exercise schedules end to end (definition events → ticks → runs) without a
database and without reading a clock.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from arco.controllers.schedules import (
    ScheduleDefinition,
    ScheduleState,
    evaluate,
)
from arco.events import OrchestrationEvent, Payload, StoredEvent
from arco.events.schedules import (
    ScheduleCreated,
    SchedulePaused,
    ScheduleResumed,
    ScheduleSpec,
    ScheduleUpdated,
)
from arco.fold.apply import apply_event
from arco.fold.rows import Doc, MemoryRows
from support.factories import SECRET, TENANT, WORKSPACE

SCHEDULE_ID = "01J0000000000000000000SCHD"


def spec(**overrides: Any) -> ScheduleSpec:
    values: dict[str, Any] = {"name": "nightly", "cron": "0 * * * *", "asset_selection": ("raw",)}
    values.update(overrides)
    return ScheduleSpec(**values)


def at(text: str) -> datetime:
    """An aware instant from ISO 8601 text (``Z`` or an offset)."""
    return datetime.fromisoformat(text).astimezone(UTC)


def definition(
    schedule_spec: ScheduleSpec | None = None,
    *,
    created: str = "2024-01-01T00:00:00Z",
    enabled: bool = True,
    version: int = 1,
    schedule_id: str = SCHEDULE_ID,
    **times: datetime | None,
) -> ScheduleDefinition:
    """A definition as the controller sees it (no fold involved)."""
    return ScheduleDefinition(
        tenant_id=TENANT,
        workspace_id=WORKSPACE,
        schedule_id=schedule_id,
        definition_version=version,
        spec=schedule_spec or spec(),
        enabled=enabled,
        created_at=at(created),
        **times,
    )


def secret_for(tenant: str) -> str:
    return SECRET


@dataclass
class Simulation:
    """One schedule, folded in memory; ``step(now)`` is one controller pass."""

    schedule_id: str = SCHEDULE_ID
    rows: MemoryRows = field(default_factory=MemoryRows)
    offset: int = 0
    version: int = 0
    appended: list[list[OrchestrationEvent]] = field(default_factory=list)
    seen_keys: set[str] = field(default_factory=set)

    def fold(self, batch: list[OrchestrationEvent]) -> None:
        """Append like the ledger does (a key already seen is dropped), then fold."""
        fresh = [e for e in batch if e.idempotency_key not in self.seen_keys]
        for event in fresh:
            self.seen_keys.add(event.idempotency_key)
            self.offset += 1
            apply_event(self.rows, StoredEvent.of(event, self.offset))
        if fresh:
            self.appended.append(fresh)

    def _define(self, data: Payload, when: str) -> None:
        self.fold([OrchestrationEvent.new(TENANT, WORKSPACE, data, now=at(when))])

    def create(self, schedule_spec: ScheduleSpec, when: str, *, enabled: bool = True) -> None:
        self.version += 1
        self._define(
            ScheduleCreated(
                schedule_id=self.schedule_id,
                definition_version=self.version,
                spec=schedule_spec,
                enabled=enabled,
            ),
            when,
        )

    def update(self, schedule_spec: ScheduleSpec, when: str) -> None:
        self.version += 1
        self._define(
            ScheduleUpdated(
                schedule_id=self.schedule_id, definition_version=self.version, spec=schedule_spec
            ),
            when,
        )

    def pause(self, when: str) -> None:
        self.version += 1
        self._define(
            SchedulePaused(schedule_id=self.schedule_id, definition_version=self.version), when
        )

    def resume(self, when: str) -> None:
        self.version += 1
        self._define(
            ScheduleResumed(schedule_id=self.schedule_id, definition_version=self.version), when
        )

    def definition_doc(self) -> Doc:
        return self.rows.table("schedule_definitions")[self.schedule_id]

    def current(self) -> tuple[ScheduleDefinition, ScheduleState]:
        definition_ = ScheduleDefinition.from_doc(TENANT, WORKSPACE, self.definition_doc())
        state = ScheduleState.from_doc(self.rows.table("schedule_state").get(self.schedule_id))
        return definition_, state

    def step(self, now: datetime) -> datetime | None:
        """One pass at ``now``: evaluate, append and fold every decision; returns next_due."""
        definition_, state = self.current()
        evaluation = evaluate(definition_, state, now, secret_for)
        for decision in evaluation.decisions:
            self.fold(decision)
        return evaluation.next_due

    def run(self, start: datetime, until: datetime, every: timedelta | None = None) -> int:
        """Passes from ``start`` to ``until``: at each next_due, or every ``every``."""
        now, passes = start, 0
        while now <= until:
            due = self.step(now)
            passes += 1
            if every is not None:
                now += every
            elif due is None:
                break
            else:
                now = max(due, now + timedelta(microseconds=1))
        return passes

    def ticks(self, status: str | None = None) -> list[Doc]:
        docs = sorted(
            self.rows.table("schedule_ticks").values(),
            key=lambda d: (int(str(d["scheduled_epoch"])), str(d["tick_id"])),
        )
        return [d for d in docs if status is None or d["status"] == status]

    def triggered_instants(self, tz: str = "UTC") -> list[str]:
        """Scheduled instants of triggered (non-manual) ticks, as ISO text in ``tz``."""
        from zoneinfo import ZoneInfo

        zone = ZoneInfo(tz)
        return [
            datetime.fromtimestamp(int(str(d["scheduled_epoch"])), UTC).astimezone(zone).isoformat()
            for d in self.ticks("triggered")
            if not d["manual"]
        ]

    def runs(self) -> dict[str, Doc]:
        return self.rows.table("runs")


def minutes(start: datetime, count: int, step: int = 1) -> Iterator[datetime]:
    for i in range(count):
        yield start + timedelta(minutes=i * step)
