"""An in-memory backfill world: a deduplicating ledger, the real fold and the real controller.

Chunk outcomes are written straight onto chunk rows (what the execution fold's
``_update_chunk`` does when a run finishes), so controller tests need no workers.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta

from arco.clock import ManualClock
from arco.controllers.backfill_states import CANCELLING, PAUSED, TERMINAL_STATES
from arco.controllers.backfills import (
    ActiveChunk,
    BackfillRequest,
    BackfillView,
    ChunkProgress,
    create,
    decide,
)
from arco.events import (
    BackfillStateChanged,
    DispatchRequested,
    OrchestrationEvent,
    PartitionSelector,
    Payload,
    PlanCreated,
    StoredEvent,
    TaskError,
    TaskFinished,
    TaskSpec,
    TaskStarted,
)
from arco.events.execution import task_key_for
from arco.fold.apply import apply_event
from arco.fold.backfills import CHUNK_TERMINAL_STATES
from arco.fold.rows import Doc, MemoryRows, Row, Scope
from arco.fold.runs import chunk_pk
from arco.fold.tables import BACKFILL_CHUNKS, RUNS
from arco.ledger import SqlLedger
from arco.partitions import PartitionsDefinition
from arco.secrets import TenantSecrets
from arco.services import ServiceContext
from arco.storage.reader import ProjectionReader
from support.factories import SECRET, T0, TENANT, WORKSPACE

SCOPE = Scope(TENANT, WORKSPACE)


class BackfillWorld:
    """Append → fold, with the ledger's key dedup; everything the backfill machinery sees."""

    def __init__(self, now: datetime = T0) -> None:
        self.rows = MemoryRows()
        self.keys: set[str] = set()
        self.appended: list[OrchestrationEvent] = []
        self.now = now

    # --- ledger + fold --------------------------------------------------------------

    def append(self, batch: Sequence[OrchestrationEvent]) -> list[bool]:
        """Append and fold ``batch``; returns, per event, whether it was a duplicate."""
        duplicates = []
        for event in batch:
            duplicate = event.idempotency_key in self.keys
            duplicates.append(duplicate)
            if not duplicate:
                self.keys.add(event.idempotency_key)
                self.appended.append(event)
                apply_event(self.rows, StoredEvent.of(event, len(self.appended)))
        return duplicates

    def tick(self, seconds: int = 1) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now

    # --- backfills ------------------------------------------------------------------

    def create(
        self,
        definition: PartitionsDefinition,
        selector: PartitionSelector,
        *,
        chunk_size: int = 10,
        max_concurrent_runs: int | None = 2,
        backfill_id: str = "B1",
    ) -> str:
        request = BackfillRequest(("raw",), selector, chunk_size, max_concurrent_runs)
        self.append([create(SCOPE, backfill_id, request, definition, self.now)])
        return backfill_id

    def doc(self, backfill_id: str) -> Doc:
        return self.rows.table("backfills")[backfill_id]

    def view(self, backfill_id: str) -> BackfillView:
        return BackfillView.from_doc(SCOPE, self.doc(backfill_id))

    def chunks(self, backfill_id: str) -> list[Doc]:
        found = [
            c
            for c in self.rows.table("backfill_chunks").values()
            if c["backfill_id"] == backfill_id
        ]
        return sorted(found, key=lambda c: int(str(c["chunk_index"])))

    def progress(self, backfill_id: str) -> ChunkProgress:
        chunks = self.chunks(backfill_id)
        runs = self.rows.table("runs")
        active = tuple(
            ActiveChunk(
                int(str(c["chunk_index"])),
                str(c["run_id"]),
                str(runs[str(c["run_id"])]["state"]) if str(c["run_id"]) in runs else None,
            )
            for c in chunks
            if c["state"] not in CHUNK_TERMINAL_STATES
        )
        return ChunkProgress(
            succeeded=sum(1 for c in chunks if c["state"] == "succeeded"),
            failed=sum(1 for c in chunks if c["state"] == "failed"),
            cancelled=sum(1 for c in chunks if c["state"] == "cancelled"),
            active_count=len(active),
            active=active,
        )

    def decide(self, backfill_id: str) -> list[list[OrchestrationEvent]]:
        return decide(self.view(backfill_id), self.progress(backfill_id), self.now, SECRET)

    def run_pass(self, backfill_id: str) -> list[list[OrchestrationEvent]]:
        """One controller pass for one backfill, every decision appended as one batch."""
        view = self.view(backfill_id)
        if view.state == PAUSED or view.state in TERMINAL_STATES:
            return []
        decisions = self.decide(backfill_id)
        for batch in decisions:
            self.append(batch)
        return decisions

    def finish_chunk(self, backfill_id: str, index: int, outcome: str) -> None:
        """What the execution fold does when the chunk's run finishes."""
        pk = chunk_pk(backfill_id, index)
        chunk = self.rows.table("backfill_chunks")[pk]
        self.rows.put(
            BACKFILL_CHUNKS.name,
            SCOPE,
            pk,
            Row.of({**chunk, "state": outcome, "run_state": outcome}, "sim"),
        )
        run_id = str(chunk["run_id"])
        run = self.rows.table("runs").get(run_id)
        if run is not None:
            self.rows.put(RUNS.name, SCOPE, run_id, Row.of({**run, "state": outcome}, "sim"))

    def mark_run(self, run_id: str, state: str) -> None:
        run = self.rows.table("runs")[run_id]
        self.rows.put(RUNS.name, SCOPE, run_id, Row.of({**run, "state": state}, "sim"))

    def transitions(self) -> list[BackfillStateChanged]:
        return [e.data for e in self.appended if isinstance(e.data, BackfillStateChanged)]

    def cancelling(self, backfill_id: str) -> bool:
        return self.view(backfill_id).state == CANCELLING


def run_events(
    run_id: str,
    keys: Sequence[str],
    failing: Collection[str] = (),
    *,
    assets: Sequence[str] = ("raw",),
    code_version: str = "v1",
) -> list[Payload]:
    """What the execution engine and one worker report for a run over ``keys``: the plan,
    then dispatch, start and finish of one attempt per asset × key (failing keys fail)."""
    specs = [
        TaskSpec(
            task_key=task_key_for(asset, key),
            asset_key=asset,
            partition_key=key,
            code_version=code_version,
        )
        for key in keys
        for asset in assets
    ]
    events: list[Payload] = [PlanCreated(run_id=run_id, tasks=tuple(specs))]
    for spec in specs:
        attempt_id = f"{run_id}:{spec.task_key}:1"
        common = {"run_id": run_id, "task_key": spec.task_key, "attempt_id": attempt_id}
        events.append(DispatchRequested(attempt=1, **common))
        events.append(TaskStarted(attempt=1, worker_id="w1", **common))
        failed = spec.partition_key in failing
        events.append(
            TaskFinished(
                attempt=1,
                outcome="failed" if failed else "succeeded",
                asset_key=spec.asset_key,
                partition_key=spec.partition_key,
                code_version=code_version,
                error=TaskError(kind="boom", message="it broke") if failed else None,
                **common,
            )
        )
    return events


def service_context(ledger: SqlLedger, clock: ManualClock, actor: str = "alice") -> ServiceContext:
    """The services' view of one tenant/workspace over ``ledger``'s database."""
    return ServiceContext(
        scope=SCOPE,
        ledger=ledger,
        reader=ProjectionReader(ledger.engine),
        secrets=TenantSecrets({TENANT: SECRET}),
        clock=clock,
        actor=actor,
    )


def chunk_keys(chunk: Doc) -> list[str]:
    """The partition keys a chunk row holds."""
    keys = chunk["partition_keys"]
    assert isinstance(keys, list)
    return [str(key) for key in keys]
