"""The schedule pass: read every schedule and its cursor, ask the controller, append its decisions.

Projections may lag the ledger, so a pass can propose a tick that is already appended; its
idempotency keys make that a duplicate, which is why two passes (or two daemons) deciding
the same tick still append it, and its run request, once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from arco import metrics
from arco.controllers.schedules import ScheduleDefinition, ScheduleState, evaluate
from arco.events import OrchestrationEvent, ScheduleTicked
from arco.fold.rows import Doc, Scope
from arco.fold.tables import SCHEDULE_DEFINITIONS, SCHEDULE_STATE
from arco.ledger import AppendOutcome
from arco.runtime.env import PassReport, RuntimeEnv

CONTROLLER = "schedules"


def run_schedule_pass(env: RuntimeEnv, now: datetime) -> PassReport:
    """One pass over every schedule of every tenant and workspace at ``now``."""
    report = PassReport(CONTROLLER)
    for scope in env.reader.scopes(SCHEDULE_DEFINITIONS):
        states = {str(doc["schedule_id"]): doc for doc in env.reader.all(SCHEDULE_STATE, scope)}
        pending: list[tuple[Any, list[OrchestrationEvent]]] = []
        for doc in env.reader.all(SCHEDULE_DEFINITIONS, scope):
            due = _evaluate_schedule(env, report, scope, doc, states, now, pending)
            if due is not None and (report.next_due is None or due < report.next_due):
                report.next_due = due
        # Decisions of many schedules share a transaction; each stays whole (one batch).
        decisions = [decision for _, decision in pending]
        for (log, decision), outcomes in zip(pending, env.append_decisions(decisions), strict=True):
            report.record(outcomes)
            _observe(log, decision, outcomes, now)
    return report


def _evaluate_schedule(
    env: RuntimeEnv,
    report: PassReport,
    scope: Scope,
    doc: Doc,
    states: Mapping[str, Doc],
    now: datetime,
    pending: list[tuple[Any, list[OrchestrationEvent]]],
) -> datetime | None:
    """Evaluate one schedule, queueing its decisions; a failure stays with this schedule."""
    schedule_id = str(doc.get("schedule_id"))
    log = env.log.bind(
        tenant_id=scope.tenant_id, workspace_id=scope.workspace_id, schedule_id=schedule_id
    )
    try:
        definition = ScheduleDefinition.from_doc(scope.tenant_id, scope.workspace_id, doc)
        state = ScheduleState.from_doc(states.get(schedule_id))
        evaluation = evaluate(definition, state, now, env.secrets.for_tenant)
        pending.extend((log, list(decision)) for decision in evaluation.decisions)
    except Exception:  # isolate: one broken schedule must not stop the others
        report.errors += 1
        metrics.CONTROLLER_ERRORS.labels(CONTROLLER).inc()
        log.exception("schedule_evaluation_failed")
        return None
    return evaluation.next_due


def _observe(
    log: Any,
    decision: Sequence[OrchestrationEvent],
    outcomes: Sequence[AppendOutcome],
    now: datetime,
) -> None:
    """Count and log the ticks this decision really appended (duplicates were counted before)."""
    for event, outcome in zip(decision, outcomes, strict=True):
        tick = event.data
        if not isinstance(tick, ScheduleTicked) or outcome.duplicate:
            continue
        metrics.SCHEDULE_TICKS.labels(tick.status).inc()
        if tick.status == "triggered":
            metrics.TICK_DELAY.observe(max(0.0, now.timestamp() - tick.scheduled_epoch))
        level = log.warning if tick.status == "failed" else log.info
        level(
            "schedule_ticked",
            tick_id=tick.tick_id,
            status=tick.status,
            reason=tick.reason,
            error=tick.error,
            run_id=tick.run_id,
            skipped_count=tick.skipped_count,
            offset=outcome.offset,
        )
