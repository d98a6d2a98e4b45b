"""One pass of the backfill controller: read active backfills, decide, append each decision.

A backfill that fails (a corrupt snapshot, a database hiccup) is logged and
counted, and the others still get their pass.  PAUSED backfills need no decision
(a paused backfill only waits), so only PENDING, RUNNING and CANCELLING rows are read.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from arco import metrics
from arco.controllers.backfill_states import CANCELLING, PENDING, RUNNING, TERMINAL_STATES
from arco.controllers.backfills import BackfillView, ChunkProgress, reconcile
from arco.events import BackfillChunkPlanned, BackfillStateChanged, RunCancelRequested
from arco.events.envelope import OrchestrationEvent
from arco.fold.rows import Doc, Scope
from arco.fold.tables import BACKFILLS
from arco.ledger import AppendOutcome
from arco.runtime.env import PassReport, RuntimeEnv
from arco.services.backfills import chunk_progress
from arco.storage.reader import Query

CONTROLLER = "backfills"
DECIDING_STATES = (PENDING, RUNNING, CANCELLING)


def run_backfill_pass(env: RuntimeEnv, now: datetime) -> PassReport:
    """Plan, complete and cancel every backfill that needs it, as of ``now``."""
    report = PassReport(CONTROLLER)
    for scope in env.reader.scopes(BACKFILLS):
        for state in DECIDING_STATES:
            for doc in env.reader.all(BACKFILLS, scope, Query(where={"state": state.value})):
                _pass_one(env, scope, doc, now, report)
    return report


def _pass_one(env: RuntimeEnv, scope: Scope, doc: Doc, now: datetime, report: PassReport) -> None:
    backfill_id = str(doc.get("backfill_id"))
    log = env.log.bind(
        tenant_id=scope.tenant_id, workspace_id=scope.workspace_id, backfill_id=backfill_id
    )
    try:
        view = BackfillView.from_doc(scope, doc)
        progress = chunk_progress(
            env.reader, scope, backfill_id, list_active=view.state == CANCELLING
        )
        decisions = reconcile([view], {backfill_id: progress}, now, env.secrets.for_tenant)
        for decision, outcomes in zip(decisions, env.append_decisions(decisions), strict=True):
            report.record(outcomes)
            _observe(log, decision, outcomes, progress)
        if decisions:
            log.info("backfill_pass", state=view.state.value, decisions=len(decisions))
    except Exception:
        log.exception("backfill_pass_failed")
        metrics.CONTROLLER_ERRORS.labels(CONTROLLER).inc()
        report.errors += 1


def _observe(
    log: Any,
    batch: Sequence[OrchestrationEvent],
    outcomes: Sequence[AppendOutcome],
    progress: ChunkProgress,
) -> None:
    """Metrics and logs for what a decision actually appended (duplicates changed nothing)."""
    for event, outcome in zip(batch, outcomes, strict=True):
        if outcome.duplicate:
            continue
        data = event.data
        if isinstance(data, BackfillChunkPlanned):
            metrics.BACKFILL_CHUNKS.labels("planned").inc()
            log.debug(
                "backfill_chunk_planned",
                chunk_index=data.chunk_index,
                keys=len(data.partition_keys),
            )
        elif isinstance(data, RunCancelRequested):
            metrics.BACKFILL_CHUNKS.labels("cancel_requested").inc()
            log.debug("backfill_run_cancel_requested", run_id=data.run_id)
        elif isinstance(data, BackfillStateChanged):
            log.info(
                "backfill_state_changed",
                from_state=data.from_state.value,
                to_state=data.to_state.value,
                state_version=data.state_version,
            )
            if data.to_state in TERMINAL_STATES:
                # Chunk outcomes are written by the execution fold; they are counted once,
                # when the backfill that owns them completes.
                metrics.BACKFILL_CHUNKS.labels("succeeded").inc(progress.succeeded)
                metrics.BACKFILL_CHUNKS.labels("failed").inc(progress.failed)
                metrics.BACKFILL_CHUNKS.labels("cancelled").inc(progress.cancelled)
