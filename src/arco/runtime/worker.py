"""The worker: claim dispatched tasks, run each attempt, report what happened as events.

Claiming is the lease.  A worker that sees a ``dispatched`` task in the tasks
projection appends ``TaskStarted(attempt_id, worker_id)``, whose idempotency key
is ``task_started:{attempt_id}``.  The ledger serializes appends and drops a
second event with the same key, so exactly one claim per attempt is ever
``Appended``: that worker owns the attempt; everybody else gets ``Duplicate``
and moves on.  (A ``Duplicate`` whose stored event names *this* worker is ours
too: an append retried after an ambiguous commit.  That rule lives in
:mod:`arco.services.leases`, shared with the HTTP worker contract.)  The lease
never expires by itself: an owner that dies stops heartbeating, and the
execution engine's anti-entropy dispatches a new attempt under a new
``attempt_id``, which is a new lease; a late report from the dead attempt cannot
change the task.

While an attempt runs, the worker sends ``TaskHeartbeat`` every
``heartbeat_interval``, watches the run for ``cancelling`` (then kills the
attempt's process group and reports ``cancelled``) and finally appends
``TaskFinished``.  Reports that fail to append are kept and retried: delivery is
at least once and the fold is idempotent.
"""

from __future__ import annotations

import os
import secrets
import socket
import threading
from collections import Counter as Tally
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal

from prometheus_client import Counter

from arco.config import resolve_store
from arco.controllers.execution_views import TaskView
from arco.errors import ArcoError
from arco.events import OrchestrationEvent, Payload, TaskFinished, TaskHeartbeat, TaskStarted
from arco.events.execution import TaskError
from arco.fold.execution_state import task_pk
from arco.fold.rows import Doc, Scope
from arco.fold.tables import RUNS, TASKS
from arco.logs import get_logger
from arco.runtime.env import RuntimeEnv
from arco.runtime.executor import (
    AttemptResult,
    Execution,
    InlineExecution,
    SubprocessExecution,
    TaskInvocation,
    ThreadExecution,
)
from arco.sdk.definitions import Definitions
from arco.services.leases import read_claim, stop_reason
from arco.storage.reader import Query

ExecutorKind = Literal["subprocess", "thread", "inline"]
EXECUTORS: dict[ExecutorKind, Callable[[Definitions, TaskInvocation, Path], Execution]] = {
    "subprocess": SubprocessExecution.start,
    "thread": ThreadExecution.start,
    "inline": InlineExecution.start,
}
CLAIMS = Counter(
    "arco_worker_claims_total",
    "TaskStarted claims by result (lost: another worker won)",
    ["result"],
)
ATTEMPTS = Counter(
    "arco_worker_attempts_total", "Attempts this worker ran, by outcome", ["outcome"]
)
WORKER_ERRORS = Counter("arco_worker_errors_total", "Worker loop steps that failed")
SCOPE_REFRESH = timedelta(seconds=10)
# Attempts this worker lost or already ran stay "dispatched" in the projection until
# the compactor folds their TaskStarted; remembering them saves a pointless claim.
HANDLED_MEMORY = 10_000


@dataclass(frozen=True)
class WorkerSettings:
    """How a worker runs; ``scopes=None`` serves every tenant/workspace that has tasks."""

    logs_dir: Path
    concurrency: int = 1
    executor: ExecutorKind = "subprocess"
    poll_interval: float = 0.2
    heartbeat_interval: timedelta = timedelta(seconds=5)
    cancel_check_interval: timedelta = timedelta(seconds=1)
    scopes: tuple[Scope, ...] | None = None
    drain_timeout: float = 60.0


@dataclass
class WorkerReport:
    """What a worker did: attempts claimed, claims lost to other workers, outcomes."""

    worker_id: str
    claimed: int = 0
    lost: int = 0
    finished: dict[str, int] = field(default_factory=dict)


@dataclass
class RunningAttempt:
    scope: Scope
    task: TaskInvocation
    execution: Execution
    code_version: str | None
    next_heartbeat: datetime
    next_cancel_check: datetime
    heartbeats: int = 0


class Worker:
    """One worker: a slot per concurrent attempt, driven one ``step`` at a time."""

    def __init__(
        self,
        env: RuntimeEnv,
        definitions: Definitions,
        settings: WorkerSettings,
        worker_id: str | None = None,
    ) -> None:
        self.env = env
        self.definitions = definitions
        self.settings = settings
        self.worker_id = worker_id or default_worker_id()
        self.running: dict[str, RunningAttempt] = {}
        self.log = get_logger("worker", worker_id=self.worker_id)
        self._start = EXECUTORS[settings.executor]
        self._unsent: list[OrchestrationEvent] = []
        self._handled: OrderedDict[str, None] = OrderedDict()
        self._unknown_assets: set[str] = set()
        self._scopes: tuple[Scope, ...] = settings.scopes or ()
        self._scopes_at: datetime | None = None
        self._outcomes: Tally[str] = Tally()
        self._claimed = 0
        self._lost_count = 0

    def report(self) -> WorkerReport:
        return WorkerReport(
            self.worker_id, self._claimed, self._lost_count, dict(sorted(self._outcomes.items()))
        )

    def step(self, *, claim: bool = True) -> int:
        """One pass: tend running attempts, resend reports, claim free slots; returns claims."""
        now = self.env.clock.now()
        for attempt_id in list(self.running):
            self._tend(self.running[attempt_id], now)
        self._flush()
        if not claim:
            return 0
        claimed = 0
        for scope, doc in self._candidates(now):
            if len(self.running) >= self.settings.concurrency:
                break
            if self.claim(scope, doc):
                claimed += 1
        self._flush()
        return claimed

    def run(self, stop: threading.Event) -> WorkerReport:
        """Serve until ``stop`` is set, then let running attempts finish (``drain_timeout``)."""
        self.log.info("worker_started", concurrency=self.settings.concurrency)
        while not stop.is_set():
            try:
                claimed = self.step()
            except Exception:
                # The store is unreachable or a read failed: keep the attempts running and
                # try again; reports that could not be appended are still queued.
                self.log.exception("worker_step_failed")
                WORKER_ERRORS.inc()
                stop.wait(self.settings.poll_interval)
                continue
            busy = claimed or self.running
            stop.wait(
                min(0.02, self.settings.poll_interval) if busy else self.settings.poll_interval
            )
        self.drain(self.settings.drain_timeout)
        self.log.info("worker_stopped", **vars(self.report()))
        return self.report()

    def claim(self, scope: Scope, doc: Doc) -> bool:
        """Append TaskStarted for the task's current attempt; True if this worker owns it."""
        task = TaskView.from_doc(doc)
        if task.attempt_id is None or task.attempt_id in self._handled:
            return False
        started = TaskStarted(
            run_id=task.run_id,
            task_key=task.task_key,
            attempt=task.attempt,
            attempt_id=task.attempt_id,
            worker_id=self.worker_id,
        )
        [outcome] = self.env.append([self._event(scope, started)])
        self._remember(task.attempt_id)
        if not read_claim(self.env.ledger, scope, started, outcome).won:
            self._lost_count += 1
            CLAIMS.labels("lost").inc()
            return False
        self._claimed += 1
        CLAIMS.labels("won").inc()
        self._launch(scope, task)
        return True

    def _remember(self, attempt_id: str) -> None:
        self._handled[attempt_id] = None
        while len(self._handled) > HANDLED_MEMORY:
            self._handled.popitem(last=False)

    def _launch(self, scope: Scope, task: TaskView) -> None:
        assert task.attempt_id is not None
        invocation = TaskInvocation(
            run_id=task.run_id,
            task_key=task.task_key,
            asset_key=task.asset_key,
            partition_key=task.partition_key,
            attempt=task.attempt,
            attempt_id=task.attempt_id,
        )
        now = self.env.clock.now()
        code_version = self.definitions.get_asset(task.asset_key).code_version
        try:
            execution = self._start(self.definitions, invocation, self.settings.logs_dir)
        except (OSError, ArcoError) as error:
            self.log.exception("attempt_start_failed", run_id=task.run_id, task_key=task.task_key)
            execution = InlineExecution(_start_failed(error))
        self.running[task.attempt_id] = RunningAttempt(
            scope,
            invocation,
            execution,
            code_version,
            next_heartbeat=now + self.settings.heartbeat_interval,
            next_cancel_check=now + self.settings.cancel_check_interval,
        )
        self.log.info(
            "attempt_started", run_id=task.run_id, task_key=task.task_key, attempt=task.attempt
        )

    def _tend(self, attempt: RunningAttempt, now: datetime) -> None:
        result = attempt.execution.poll()
        if result is None and now >= attempt.next_cancel_check:
            attempt.next_cancel_check = now + self.settings.cancel_check_interval
            reason = self._why_stop(attempt)
            if reason is not None:
                result = attempt.execution.kill(reason)
        if result is None:
            if now >= attempt.next_heartbeat:
                self._heartbeat(attempt, now)
            return
        del self.running[attempt.task.attempt_id]
        self._finish(attempt, result)

    def _why_stop(self, attempt: RunningAttempt) -> str | None:
        """Why a running attempt must be killed (:func:`arco.services.leases.stop_reason`)."""
        task = attempt.task
        try:
            run = self.env.reader.get(RUNS, attempt.scope, task.run_id)
            doc = self.env.reader.get(TASKS, attempt.scope, task_pk(task.run_id, task.task_key))
        except ArcoError:
            return None  # the projections are unreachable: keep running, check again later
        return stop_reason(run, doc, task.attempt_id)

    def _heartbeat(self, attempt: RunningAttempt, now: datetime) -> None:
        attempt.heartbeats += 1
        attempt.next_heartbeat = now + self.settings.heartbeat_interval
        beat = TaskHeartbeat(
            run_id=attempt.task.run_id,
            task_key=attempt.task.task_key,
            attempt_id=attempt.task.attempt_id,
            sequence=attempt.heartbeats,
        )
        try:
            self.env.append([self._event(attempt.scope, beat)])
        except ArcoError:
            # A missed heartbeat is harmless; the next one carries a higher sequence.
            self.log.warning("heartbeat_failed", run_id=attempt.task.run_id, exc_info=True)

    def _finish(self, attempt: RunningAttempt, result: AttemptResult) -> None:
        task = attempt.task
        report = TaskFinished(
            run_id=task.run_id,
            task_key=task.task_key,
            attempt=task.attempt,
            attempt_id=task.attempt_id,
            outcome=result.outcome,
            asset_key=task.asset_key,
            partition_key=task.partition_key,
            code_version=result.code_version or attempt.code_version,
            metadata=result.metadata,
            error=result.error,
        )
        self._outcomes[result.outcome] += 1
        ATTEMPTS.labels(result.outcome).inc()
        self._unsent.append(self._event(attempt.scope, report))
        self.log.info(
            "attempt_finished",
            run_id=task.run_id,
            task_key=task.task_key,
            attempt=task.attempt,
            outcome=result.outcome,
            error=None if result.error is None else result.error.kind,
        )

    def _flush(self) -> None:
        """Append finished reports; one that fails stays queued for the next step."""
        while self._unsent:
            try:
                self.env.append(self._unsent[:1])
            except ArcoError:
                self.log.warning("report_failed_will_retry", exc_info=True)
                return
            self._unsent.pop(0)

    def _candidates(self, now: datetime) -> list[tuple[Scope, Doc]]:
        """Dispatched tasks this worker can run, oldest ready first, a few per free slot."""
        free = self.settings.concurrency - len(self.running)
        if free <= 0:
            return []
        wanted = free * 4 + min(len(self._handled), 100)
        query = Query(where={"state": "dispatched"}, order_by="ready_at")
        found: list[tuple[Scope, Doc]] = []
        for scope in self._current_scopes(now):
            for doc in self.env.reader.page(TASKS, scope, query, limit=wanted).items:
                if doc.get("attempt_id") in self._handled or not self._can_run(doc):
                    continue
                found.append((scope, doc))
        return found

    def _can_run(self, doc: Doc) -> bool:
        asset_key = str(doc.get("asset_key"))
        if asset_key in self.definitions.assets_by_key:
            return True
        if asset_key not in self._unknown_assets:
            self._unknown_assets.add(asset_key)
            self.log.warning("task_for_unknown_asset_left_alone", asset_key=asset_key)
        return False

    def _current_scopes(self, now: datetime) -> tuple[Scope, ...]:
        if self.settings.scopes is not None:
            return self.settings.scopes
        # Until some workspace has tasks, look on every poll; then every SCOPE_REFRESH (a
        # DISTINCT over the tasks table; production workers should name their scopes).
        if not self._scopes or self._scopes_at is None or now - self._scopes_at >= SCOPE_REFRESH:
            self._scopes = tuple(self.env.reader.scopes(TASKS))
            self._scopes_at = now
        return self._scopes

    def drain(self, timeout: float) -> None:
        """Claim nothing more; wait up to ``timeout`` s for running attempts, then kill them.

        A killed attempt is reported failed (``WorkerStopped``) so its retry policy applies.
        """
        stop_draining = threading.Event()
        timer = threading.Timer(timeout, stop_draining.set)
        timer.start()
        try:
            while self.running and not stop_draining.is_set():
                try:
                    self.step(claim=False)
                except Exception:
                    self.log.exception("worker_step_failed")
                stop_draining.wait(0.02)
        finally:
            timer.cancel()
        for attempt_id, attempt in list(self.running.items()):
            result = attempt.execution.kill("worker stopped")
            del self.running[attempt_id]
            self._finish(attempt, result if result.outcome != "cancelled" else _stopped(attempt))
        try:
            self._flush()
        except Exception:
            # Unreported attempts end by heartbeat timeout, like those of a killed worker.
            self.log.exception("final_reports_failed", unsent=len(self._unsent))

    def _event(self, scope: Scope, data: Payload) -> OrchestrationEvent:
        return OrchestrationEvent.new(
            scope.tenant_id, scope.workspace_id, data, now=self.env.clock.now()
        )


def _start_failed(error: Exception) -> AttemptResult:
    return AttemptResult("failed", error=TaskError(kind="AttemptStartFailed", message=f"{error}"))


def _stopped(attempt: RunningAttempt) -> AttemptResult:
    """A failure, not a cancellation: the task's retry policy gives it another attempt."""
    message = "the worker stopped before the attempt finished"
    return AttemptResult(
        "failed",
        error=TaskError(kind="WorkerStopped", message=message),
        code_version=attempt.code_version,
    )


def default_worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


def default_logs_dir() -> Path:
    """``{data_dir}/compute_logs`` of the configured store."""
    return resolve_store().data_dir / "compute_logs"


def run_worker(
    env: RuntimeEnv,
    definitions: Definitions,
    concurrency: int = 1,
    worker_id: str | None = None,
    stop_event: threading.Event | None = None,
    in_process: bool = False,
    *,
    settings: WorkerSettings | None = None,
) -> WorkerReport:
    """``arco worker``: serve until ``stop_event`` is set (subprocess per attempt by default)."""
    base = settings or WorkerSettings(logs_dir=default_logs_dir())
    chosen = WorkerSettings(
        **{
            **vars(base),
            "concurrency": concurrency,
            "executor": "thread" if in_process else base.executor,
        }
    )
    worker = Worker(env, definitions, chosen, worker_id)
    return worker.run(stop_event or threading.Event())


def run_task_pass(
    env: RuntimeEnv,
    definitions: Definitions,
    *,
    logs_dir: Path,
    worker_id: str = "arco-testing",
    scopes: tuple[Scope, ...] | None = None,
) -> WorkerReport:
    """Claim and run, inline and to completion, every task dispatched right now."""
    settings = WorkerSettings(
        logs_dir=logs_dir, concurrency=1_000_000, executor="inline", scopes=scopes
    )
    worker = Worker(env, definitions, settings, worker_id)
    worker.step()
    worker.step(claim=False)  # report what the inline attempts finished
    return worker.report()
