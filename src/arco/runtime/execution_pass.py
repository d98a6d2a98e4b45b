"""The execution pass: run bridge, timeouts, retries, anti-entropy and dispatch, once.

Reads projections through ``env.reader``, calls the pure controllers with
``now`` and appends each decision as one batch.  A failure is isolated to the
run it concerns (logged with tenant, workspace and run id, counted in
``arco_controller_errors_total{controller="execution"}``).  Every decision is
idempotent by key, so a pass that decides on projections the compactor has
not caught up with yet only produces duplicates the ledger drops.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from prometheus_client import Counter

from arco import metrics
from arco.controllers import anti_entropy, dispatch, run_bridge, timers
from arco.controllers.asset_graph import AssetGraph
from arco.controllers.dispatch import Candidate, DispatchLimits
from arco.controllers.execution_views import RunView, TaskView, TimerView
from arco.controllers.run_bridge import MAX_TASKS_PER_RUN, QueuedRun
from arco.events import OrchestrationEvent, PlanCreated
from arco.fold.rows import Doc, Scope
from arco.fold.tables import RUNS, TASKS, TIMERS, ProjectionTable
from arco.runtime.env import PassReport, RuntimeEnv
from arco.storage.reader import Query

CONTROLLER = "execution"
EXECUTION_DECISIONS = Counter(
    "arco_execution_decisions_total", "Execution engine decisions appended, by kind", ["kind"]
)

GraphSource = AssetGraph | Callable[[Scope], AssetGraph | None]
"""One graph for every workspace, or a lookup (None: this daemon does not plan that scope)."""


@dataclass(frozen=True)
class ExecutionSettings:
    limits: DispatchLimits = field(default_factory=DispatchLimits)
    heartbeat_timeout: timedelta = timedelta(seconds=60)
    dispatch_timeout: timedelta = timedelta(minutes=5)
    max_redispatches: int = 3
    max_tasks_per_run: int = MAX_TASKS_PER_RUN


def execution_pass(
    graph: GraphSource, settings: ExecutionSettings | None = None
) -> Callable[[RuntimeEnv, datetime], PassReport]:
    """The pass as the daemon calls it: ``(env, now) -> PassReport``."""

    def run_pass(env: RuntimeEnv, now: datetime) -> PassReport:
        return run_execution_pass(env, now, graph, settings)

    return run_pass


def run_execution_pass(
    env: RuntimeEnv,
    now: datetime,
    graph: GraphSource,
    settings: ExecutionSettings | None = None,
) -> PassReport:
    """One pass over every workspace that has runs."""
    settings = settings or ExecutionSettings()
    report = PassReport(CONTROLLER)
    due: list[datetime] = []
    capacity = settings.limits.max_concurrent_tasks - sum(
        env.reader.count(TASKS, None, Query(where={"state": s})) for s in ("dispatched", "running")
    )
    for scope in env.reader.scopes(RUNS):
        step = _ScopePass(env, scope, now, settings, report, due)
        step.bridge(graph(scope) if callable(graph) else graph)
        capacity -= step.tasks(max(0, capacity))
    if report.appended:
        due.append(now)  # what was just appended may unblock more work once folded
    report.next_due = min(due, default=None)
    return report


class _ScopePass:
    """The pass for one tenant/workspace."""

    def __init__(
        self,
        env: RuntimeEnv,
        scope: Scope,
        now: datetime,
        settings: ExecutionSettings,
        report: PassReport,
        due: list[datetime],
    ) -> None:
        self.env = env
        self.scope = scope
        self.now = now
        self.settings = settings
        self.report = report
        self.due = due
        self.log = env.log.bind(
            controller=CONTROLLER, tenant_id=scope.tenant_id, workspace_id=scope.workspace_id
        )

    def bridge(self, graph: AssetGraph | None) -> None:
        """Plan every queued run (RunTriggered + PlanCreated, one batch per run)."""
        if graph is None:
            return
        max_tasks = self.settings.max_tasks_per_run
        for doc in self._docs(RUNS, "queued"):
            with self._isolated(str(doc.get("run_id"))):
                run = QueuedRun.from_doc(doc)
                decision = run_bridge.bridge(self.scope, run, graph, self.now, max_tasks=max_tasks)
                self._append(decision, _plan_kind(decision))

    def tasks(self, capacity: int) -> int:
        """Timeouts, retries, anti-entropy and dispatch; returns how many tasks it dispatched."""
        settings = self.settings
        running, waiting, dispatched, ready = (
            self._tasks(s) for s in ("running", "retry_wait", "dispatched", "ready")
        )
        runs = self._runs({t.run_id for t in (*running, *waiting, *dispatched, *ready)})
        for task in running:
            self._note_due(timers.heartbeat_deadline(task, settings.heartbeat_timeout))
            with self._isolated(task.run_id):
                timeouts = timers.heartbeat_timeouts(
                    self.scope, [task], self.now, settings.heartbeat_timeout
                )
                self._append_all(timeouts, "heartbeat_timeout")
        for task in waiting:
            self._note_due(task.retry_at)
            with self._isolated(task.run_id):
                requested = timers.request_retry_timers(self.scope, [task], self.now)
                self._append_all(requested, "retry_timer")
        for task in dispatched:
            self._note_due(anti_entropy.dispatch_deadline(task, settings.dispatch_timeout))
            with self._isolated(task.run_id):
                redispatched = anti_entropy.reconcile(
                    self.scope,
                    [task],
                    runs,
                    self.now,
                    timeout=settings.dispatch_timeout,
                    max_redispatches=settings.max_redispatches,
                )
                self._append_all(redispatched, "redispatch")
        self._fire_orphan_timers(waiting)
        return self._dispatch(waiting, ready, runs, capacity)

    def _dispatch(
        self,
        waiting: Sequence[TaskView],
        ready: Sequence[TaskView],
        runs: dict[str, RunView],
        capacity: int,
    ) -> int:
        """Due retries first (they waited longest), then ready tasks in the order they became ready."""
        retries = [Candidate(t, t.retry_timer_id) for t in timers.due_retries(waiting, self.now)]
        fresh = sorted(ready, key=lambda t: (t.ready_at or self.now, t.run_id, t.task_index))
        candidates = retries + [Candidate(t) for t in fresh]
        decisions = dispatch.reconcile(
            self.scope, candidates, runs, capacity, self.now, self.settings.limits
        )
        for decision in decisions:
            with self._isolated(_run_of(decision)):
                self._append(decision, "retry" if len(decision) > 1 else "dispatch")
        return len(decisions)

    def _fire_orphan_timers(self, waiting: Sequence[TaskView]) -> None:
        now_ms = int(self.now.timestamp() * 1000)
        requested = {"state": "requested"}
        query = Query(where=requested, ranges={"fire_at_epoch_ms": (None, now_ms)})
        due = [TimerView.from_doc(d) for d in self.env.reader.all(TIMERS, self.scope, query)]
        awaited = {t.retry_timer_id for t in waiting if t.retry_timer_id is not None}
        for decision in timers.fire_orphan_timers(self.scope, due, awaited, self.now):
            with self._isolated(_run_of(decision)):
                self._append(decision, "timer_fired")
        later = Query(
            where=requested,
            ranges={"fire_at_epoch_ms": (now_ms + 1, None)},
            order_by="fire_at_epoch_ms",
        )
        for doc in self.env.reader.page(TIMERS, self.scope, later, limit=1).items:
            self._note_due(TimerView.from_doc(doc).fire_at)

    # --- reading -----------------------------------------------------------------------

    def _docs(self, table: ProjectionTable, state: str) -> list[Doc]:
        return self.env.reader.all(table, self.scope, Query(where={"state": state}))

    def _tasks(self, state: str) -> list[TaskView]:
        return [TaskView.from_doc(doc) for doc in self._docs(TASKS, state)]

    def _runs(self, run_ids: Iterable[str]) -> dict[str, RunView]:
        runs = {}
        for run_id in sorted(run_ids):
            doc = self.env.reader.get(RUNS, self.scope, run_id)
            if doc is not None:
                runs[run_id] = RunView.from_doc(doc)
        return runs

    def _note_due(self, instant: datetime | None) -> None:
        if instant is not None and instant > self.now:
            self.due.append(instant)

    # --- appending, one run's failure isolated from the others ---------------------------

    @contextmanager
    def _isolated(self, run_id: str) -> Iterator[None]:
        try:
            yield
        except Exception:
            self.report.errors += 1
            metrics.CONTROLLER_ERRORS.labels(CONTROLLER).inc()
            self.log.exception("execution_decision_failed", run_id=run_id)

    def _append_all(self, decisions: list[list[OrchestrationEvent]], kind: str) -> None:
        for decision in decisions:
            self._append(decision, kind)

    def _append(self, decision: list[OrchestrationEvent], kind: str) -> None:
        outcomes = self.env.append(decision)
        self.report.record(outcomes)
        if all(outcome.duplicate for outcome in outcomes):
            return
        EXECUTION_DECISIONS.labels(kind).inc()
        last = decision[-1].data
        self.log.info(
            "execution_decision",
            kind=kind,
            run_id=_run_of(decision),
            task_key=getattr(last, "task_key", None),
        )


def _run_of(decision: Sequence[OrchestrationEvent]) -> str:
    return decision[-1].correlation_id or ""


def _plan_kind(decision: Sequence[OrchestrationEvent]) -> str:
    plan = decision[-1].data
    return "plan_failed" if isinstance(plan, PlanCreated) and plan.error is not None else "plan"
