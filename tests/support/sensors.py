"""Builders for sensor tests: definitions, views, decisions, and folding them in memory."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from hypothesis import strategies as st

from arco.clock import ManualClock
from arco.compactor import Compactor
from arco.controllers.sensors import Outcome, Request, SensorView, decide_poll, decide_push
from arco.events import (
    OrchestrationEvent,
    SensorCreated,
    SensorSpec,
    StoredEvent,
)
from arco.fold.apply import apply_event
from arco.fold.rows import MemoryRows, Scope
from arco.fold.tables import RUNS, SENSOR_EVALS, SENSOR_STATE
from arco.ledger import SqlLedger
from arco.runtime.env import RuntimeEnv
from arco.secrets import TenantSecrets
from arco.services import ServiceContext
from arco.storage.reader import ProjectionReader, Query
from support.factories import SECRET, T0, TENANT, WORKSPACE, envelope

OTHER_TENANT = "globex"
POLL_ID = "01HZSENSORPOLL000000000000"
Batch = list[OrchestrationEvent]
PUSH_ID = "01HZSENSORPUSH000000000000"


def spec(kind: str = "poll", name: str | None = None, interval: int = 30) -> SensorSpec:
    return SensorSpec(
        name=name or f"{kind}_sensor",
        kind=kind,
        asset_selection=("raw",),
        minimum_interval_seconds=interval,
    )


def created(sensor_id: str = POLL_ID, kind: str = "poll", enabled: bool = True) -> SensorCreated:
    return SensorCreated(
        sensor_id=sensor_id, definition_version=1, spec=spec(kind), enabled=enabled
    )


def view(
    sensor_id: str = POLL_ID,
    *,
    kind: str = "poll",
    cursor: str | None = None,
    version: int = 0,
    enabled: bool = True,
) -> SensorView:
    return SensorView(
        tenant_id=TENANT,
        workspace_id=WORKSPACE,
        sensor_id=sensor_id,
        spec=spec(kind),
        enabled=enabled,
        definition_version=1,
        cursor=cursor,
        state_version=version,
    )


def requests(*keys: str | None) -> tuple[Request, ...]:
    return tuple(Request(run_key=key) for key in keys)


def poll_batch(
    cursor: str | None,
    version: int,
    keys: Sequence[str | None],
    cursor_after: str | None,
    at: datetime = T0,
    sensor_id: str = POLL_ID,
) -> list[OrchestrationEvent]:
    outcome = Outcome(requests=requests(*keys), cursor_after=cursor_after)
    return decide_poll(view(sensor_id, cursor=cursor, version=version), at, outcome, SECRET)


def push_batch(
    message_id: str,
    keys: Sequence[str | None] = (None,),
    at: datetime = T0,
    sensor_id: str = PUSH_ID,
) -> list[OrchestrationEvent]:
    outcome = Outcome(requests=requests(*keys))
    return decide_push(view(sensor_id, kind="push"), at, message_id, outcome, SECRET)


class Folded:
    """An in-memory projection fed event by event, with offsets like a ledger's."""

    def __init__(self, *events: OrchestrationEvent) -> None:
        self.rows = MemoryRows()
        self.offset = 0
        self.warnings: list[str] = []
        self.add(events)

    def add(self, events: Iterable[OrchestrationEvent]) -> Folded:
        for event in events:
            self.offset += 1
            self.warnings += apply_event(self.rows, StoredEvent.of(event, self.offset)).warnings
        return self

    def table(self, name: str) -> dict[str, dict[str, object]]:
        return self.rows.table(name)

    def state(self, sensor_id: str = POLL_ID) -> dict[str, object]:
        return self.table("sensor_state")[sensor_id]

    def evals(self) -> dict[str, dict[str, object]]:
        return self.table("sensor_evals")

    def run_keys(self) -> set[str]:
        return {str(run["run_key"]) for run in self.table("runs").values()}


def sensors_created(*sensor_ids_and_kinds: tuple[str, str]) -> list[OrchestrationEvent]:
    return [envelope(created(sid, kind)) for sid, kind in sensor_ids_and_kinds]


BOTH = ((POLL_ID, "poll"), (PUSH_ID, "push"))


# A message: its id, and the run keys its evaluation asks for (None = the default key).
messages = st.dictionaries(
    st.text("abcdef", min_size=1, max_size=3),
    st.lists(st.sampled_from([None, "own"]), max_size=3),
    min_size=1,
    max_size=8,
)


def push_batches(spec: dict[str, list[str | None]]) -> list[Batch]:
    """One evaluation batch per message; named keys are made unique to their message."""
    return [
        push_batch(
            mid, [None if k is None else f"{k}-{mid}" for k in keys], at=T0 + timedelta(seconds=i)
        )
        for i, (mid, keys) in enumerate(sorted(spec.items()))
    ]


def poll_chain(steps: list[tuple[int, int]]) -> list[Batch]:
    """Accepted evaluations in sequence, each followed by ``losers`` racing from its state.

    Every step ``(keys, losers)`` evaluates from cursor ``c{i}`` at state version ``i``.
    """
    batches: list[Batch] = []
    for i, (keys, losers) in enumerate(steps):
        at = T0 + timedelta(minutes=i)
        cursor = None if i == 0 else f"c{i}"
        batches.append(poll_batch(cursor, i, [f"s{i}-{k}" for k in range(keys)], f"c{i + 1}", at))
        for loser in range(losers):
            late = at + timedelta(seconds=loser + 1)
            batches.append(poll_batch(cursor, i, [f"lost-{i}-{loser}"], f"x{i}", late))
    return batches


steps = st.lists(st.tuples(st.integers(0, 3), st.integers(0, 2)), min_size=1, max_size=6)


class World:
    """Services and runner over one real database, with a manual clock."""

    def __init__(self, ledger: SqlLedger, compactor: Compactor) -> None:
        self.ledger = ledger
        self.compactor = compactor
        self.clock = ManualClock(T0)
        self.reader = ProjectionReader(ledger.engine)
        self.secrets = TenantSecrets({TENANT: SECRET, OTHER_TENANT: SECRET})
        self.ctx = ServiceContext(
            Scope(TENANT, WORKSPACE), ledger, self.reader, self.secrets, self.clock, actor="ann"
        )
        self.env = RuntimeEnv(ledger, self.reader, self.secrets, self.clock)

    def create(self, spec: SensorSpec, *, enabled: bool = True) -> str:
        """Define a sensor through the service and fold it; returns its id."""
        from arco.services import sensors as service

        sensor_id = service.create(self.ctx, spec, enabled=enabled).resource_id
        assert sensor_id is not None
        self.fold()
        return sensor_id

    def fold(self) -> World:
        self.compactor.catch_up()
        return self

    def advance(self, seconds: float) -> datetime:
        return self.clock.advance(timedelta(seconds=seconds))

    def scoped(self, tenant: str) -> ServiceContext:
        return replace(self.ctx, scope=Scope(tenant, WORKSPACE))

    def runs(self, tenant: str = TENANT) -> dict[str, dict[str, object]]:
        docs = self.reader.all(RUNS, Scope(tenant, WORKSPACE))
        return {str(doc["run_key"]): doc for doc in docs}

    def evals(self, sensor_id: str, tenant: str = TENANT) -> list[dict[str, object]]:
        query = Query(where={"sensor_id": sensor_id}, order_by="evaluated_at")
        return self.reader.all(SENSOR_EVALS, Scope(tenant, WORKSPACE), query)

    def state(self, sensor_id: str, tenant: str = TENANT) -> dict[str, object]:
        state = self.reader.get(SENSOR_STATE, Scope(tenant, WORKSPACE), sensor_id)
        assert state is not None
        return state
