"""Evaluating sensors: the poll pass the daemon runs, and one pushed message.

Each evaluation runs the user's code through a :class:`SensorExecutor` (threads
with a per-sensor timeout; see :mod:`arco.runtime.sensor_executor`), then the
pure controller turns the outcome into one batch — a SensorEvaluated and its
RunRequested events — appended atomically.  One sensor failing (in its code,
or in the pass itself) is logged and counted and never stops the others.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from arco import metrics
from arco.controllers.sensors import (
    PAUSED_REASON,
    Outcome,
    Request,
    SensorView,
    decide_poll,
    decide_push,
    due_sensors,
    next_due,
    sensor_view,
)
from arco.events import OrchestrationEvent, PushMessage, RequestedRun, SensorEvaluated
from arco.fold.rows import Scope
from arco.fold.tables import SENSOR_DEFINITIONS, SENSOR_STATE
from arco.ledger import AppendOutcome
from arco.runtime.env import PassReport, RuntimeEnv
from arco.runtime.sensor_executor import (
    DEFAULT_EXECUTOR,
    JobKey,
    SensorExecutor,
    SensorJob,
    describe,
)
from arco.sdk.sensor_context import SensorEvaluationContext, SensorMessage
from arco.sdk.sensors import SensorDefinition
from arco.storage.reader import Query

CONTROLLER = "sensors"

Registry = Mapping[str, SensorDefinition]

__all__ = [
    "CONTROLLER",
    "EvaluationReport",
    "Registry",
    "SensorExecutor",
    "append_evaluation",
    "evaluate_once",
    "handle_push",
    "recorded_evaluation",
    "run_sensor_pass",
    "sensor_pass",
]


@dataclass(frozen=True)
class EvaluationReport:
    """What one evaluation decided, and whether its batch was appended now.

    ``status`` is the decision (ok, skipped, error); for a poll evaluation the
    fold may still record it as ``skipped_stale_cursor`` if another evaluation
    from the same state landed first — the sensor's evaluation history shows that.
    """

    sensor_id: str
    eval_id: str
    kind: str
    status: str
    run_requests: tuple[RequestedRun, ...]
    cursor_before: str | None
    cursor_after: str | None
    skip_reason: str | None
    error: str | None
    appended: bool = False
    duplicate: bool = False
    event_id: str | None = None
    offset: int | None = None

    @classmethod
    def of(
        cls, evaluation: SensorEvaluated, event_id: str | None = None, **flags: Any
    ) -> EvaluationReport:
        return cls(
            sensor_id=evaluation.sensor_id,
            eval_id=evaluation.eval_id,
            kind=evaluation.kind,
            status=evaluation.status,
            run_requests=evaluation.run_requests,
            cursor_before=evaluation.cursor_before,
            cursor_after=evaluation.cursor_after,
            skip_reason=evaluation.skip_reason,
            error=evaluation.error,
            event_id=event_id,
            **flags,
        )

    def to_dict(self) -> dict[str, object]:
        """The JSON shape the API and ``--json`` print."""
        return {
            "sensor_id": self.sensor_id,
            "eval_id": self.eval_id,
            "kind": self.kind,
            "status": self.status,
            "run_requests": [r.model_dump(mode="json") for r in self.run_requests],
            "cursor_before": self.cursor_before,
            "cursor_after": self.cursor_after,
            "skip_reason": self.skip_reason,
            "error": self.error,
            "appended": self.appended,
            "duplicate": self.duplicate,
            "event_id": self.event_id,
            "offset": self.offset,
        }


def sensor_pass(
    registry: Registry, executor: SensorExecutor | None = None
) -> Callable[[RuntimeEnv, datetime], PassReport]:
    """The poll pass as the daemon calls it: ``(env, now) -> PassReport``."""

    def run(env: RuntimeEnv, now: datetime) -> PassReport:
        return run_sensor_pass(env, now, registry, executor=executor)

    return run


def run_sensor_pass(
    env: RuntimeEnv, now: datetime, registry: Registry, *, executor: SensorExecutor | None = None
) -> PassReport:
    """Evaluate every due poll sensor (code from ``registry`` by name) and append each result."""
    executor = executor or DEFAULT_EXECUTOR
    report = PassReport(CONTROLLER)
    sensors = _poll_sensors(env, report)
    due = due_sensors(sensors, now)
    sensor_of: dict[JobKey, SensorView] = {}
    jobs: list[SensorJob] = []
    for sensor in due:
        definition = _code_for(env, sensor, registry)
        if definition is None:
            continue
        with _isolated(env, sensor, report):
            job = poll_job(sensor, definition, now, env.log)
            sensor_of[job.key] = sensor
            jobs.append(job)
    for job, outcome in executor.run(jobs):
        sensor = sensor_of[job.key]
        with _isolated(env, sensor, report):
            secret = env.secrets.for_tenant(sensor.tenant_id)
            _append(env, decide_poll(sensor, now, outcome, secret), report)
    # Every due sensor was just evaluated (or has no code here): next due one interval on.
    attempted = {s.sensor_id for s in due}
    later = [replace(s, last_evaluated_at=now) if s.sensor_id in attempted else s for s in sensors]
    report.next_due = next_due(later, now)
    return report


def handle_push(
    env: RuntimeEnv,
    sensor: SensorView,
    message: PushMessage,
    definition: SensorDefinition,
    now: datetime,
    *,
    executor: SensorExecutor | None = None,
) -> EvaluationReport:
    """Evaluate one pushed message and append the evaluation with its run requests.

    A paused sensor does not run the code: the message is recorded as a
    ``skipped`` evaluation (reason "sensor is paused") and, as with a schedule's
    paused ticks, is not replayed on resume — a redelivery of the same message id
    after resuming is a duplicate.
    """
    if not sensor.enabled:
        outcome = Outcome(skip_reason=PAUSED_REASON)
    else:
        outcome = run_one(executor, push_job(sensor, definition, message, now, env.log))
    secret = env.secrets.for_tenant(sensor.tenant_id)
    batch = decide_push(sensor, now, message.message_id, outcome, secret)
    return append_evaluation(env, batch)


def evaluate_once(
    env: RuntimeEnv,
    sensor: SensorView,
    definition: SensorDefinition,
    now: datetime,
    *,
    message: PushMessage | None = None,
    executor: SensorExecutor | None = None,
    append: bool = False,
) -> EvaluationReport:
    """Run a sensor once as of ``now``; append the result only when ``append`` (else a dry run)."""
    if sensor.kind == "push":
        if message is None:
            raise ValueError("a push evaluation needs a message")
        job = push_job(sensor, definition, message, now, env.log)
    else:
        job = poll_job(sensor, definition, now, env.log)
    outcome = run_one(executor, job)
    secret = env.secrets.for_tenant(sensor.tenant_id)
    if message is not None:
        batch = decide_push(sensor, now, message.message_id, outcome, secret)
    else:
        batch = decide_poll(sensor, now, outcome, secret)
    if append:
        return append_evaluation(env, batch)
    return EvaluationReport.of(_evaluation(batch))


def append_evaluation(env: RuntimeEnv, batch: Sequence[OrchestrationEvent]) -> EvaluationReport:
    """Append one evaluation batch; for a duplicate, report the evaluation already recorded."""
    outcomes = env.append(batch)
    head = outcomes[0]
    evaluation = _evaluation(batch)
    _observe(env, batch, outcomes)
    if head.duplicate:
        recorded = recorded_evaluation(env, head.offset) or evaluation
        return EvaluationReport.of(recorded, None, duplicate=True, offset=head.offset)
    return EvaluationReport.of(evaluation, batch[0].event_id, appended=True, offset=head.offset)


def recorded_evaluation(env: RuntimeEnv, offset: int) -> SensorEvaluated | None:
    """The SensorEvaluated stored at ``offset`` (None if that is not one)."""
    stored = env.ledger.read(after_offset=offset - 1, limit=1)
    data = stored[0].data if stored and stored[0].offset == offset else None
    return data if isinstance(data, SensorEvaluated) else None


def run_one(executor: SensorExecutor | None, job: SensorJob) -> Outcome:
    """Run a single job under its timeout."""
    for _, outcome in (executor or DEFAULT_EXECUTOR).run([job]):
        return outcome
    raise AssertionError("the executor yields one outcome per job")  # pragma: no cover


def poll_job(
    sensor: SensorView, definition: SensorDefinition, now: datetime, log: Any
) -> SensorJob:
    context = SensorEvaluationContext(
        sensor_name=sensor.name,
        sensor_id=sensor.sensor_id,
        tenant_id=sensor.tenant_id,
        workspace_id=sensor.workspace_id,
        now=now,
        cursor=sensor.cursor,
        last_evaluated_at=sensor.last_evaluated_at,
        log=_bound(log, sensor),
    )
    return SensorJob(_key(sensor), sensor.spec.timeout_seconds, _user_code(definition, context))


def push_job(
    sensor: SensorView,
    definition: SensorDefinition,
    message: PushMessage,
    now: datetime,
    log: Any,
) -> SensorJob:
    def evaluate() -> Outcome:
        try:
            decoded = SensorMessage.from_push(message)
        except Exception as error:  # an undecodable message is an error evaluation
            return Outcome.failed(describe(error))
        context = SensorEvaluationContext(
            sensor_name=sensor.name,
            sensor_id=sensor.sensor_id,
            tenant_id=sensor.tenant_id,
            workspace_id=sensor.workspace_id,
            now=now,
            last_evaluated_at=sensor.last_evaluated_at,
            message=decoded,
            log=_bound(log, sensor, message_id=message.message_id),
        )
        return _user_code(definition, context)()

    # Messages of one push sensor are evaluated concurrently; only a redelivery of a
    # message whose evaluation hung waits for it.
    key = (sensor.tenant_id, sensor.workspace_id, f"{sensor.sensor_id}:msg:{message.message_id}")
    return SensorJob(key, sensor.spec.timeout_seconds, evaluate)


def _user_code(
    definition: SensorDefinition, context: SensorEvaluationContext
) -> Callable[[], Outcome]:
    def evaluate() -> Outcome:
        try:
            result = definition.evaluate(context)
        except Exception as error:  # user code: any failure is an error evaluation
            context.log.exception("sensor_raised")
            return Outcome.failed(describe(error))
        requests = tuple(
            Request(
                run_key=r.run_key,
                asset_selection=r.asset_selection,
                partition_selection=r.partition_selection(),
                tags=dict(r.tags),
            )
            for r in result.run_requests
        )
        return Outcome(
            requests=requests, cursor_after=result.cursor, skip_reason=result.skip_reason
        )

    return evaluate


def _poll_sensors(env: RuntimeEnv, report: PassReport) -> list[SensorView]:
    """Enabled poll sensors of every scope, with their state; a broken scope is skipped."""
    sensors: list[SensorView] = []
    for scope in env.reader.scopes(SENSOR_DEFINITIONS):
        try:
            sensors += _scope_sensors(env, scope)
        except Exception:
            env.log.exception(
                "sensor_scope_failed", tenant_id=scope.tenant_id, workspace_id=scope.workspace_id
            )
            metrics.CONTROLLER_ERRORS.labels(CONTROLLER).inc()
            report.errors += 1
    return sensors


def _scope_sensors(env: RuntimeEnv, scope: Scope) -> list[SensorView]:
    query = Query(where={"kind": "poll", "enabled": True})
    return [
        sensor_view(
            scope.tenant_id,
            scope.workspace_id,
            definition,
            env.reader.get(SENSOR_STATE, scope, str(definition["sensor_id"])),
        )
        for definition in env.reader.all(SENSOR_DEFINITIONS, scope, query)
    ]


def _code_for(env: RuntimeEnv, sensor: SensorView, registry: Registry) -> SensorDefinition | None:
    definition = registry.get(sensor.name)
    if definition is None or definition.kind != "poll":
        reason = "no code loaded" if definition is None else "its code is a push sensor"
        _bound(env.log, sensor).warning("sensor_code_missing", reason=reason)
        return None
    return definition


@contextmanager
def _isolated(env: RuntimeEnv, sensor: SensorView, report: PassReport) -> Iterator[None]:
    """Log, count and swallow a failure of one sensor so the pass goes on with the others."""
    try:
        yield
    except Exception:
        _bound(env.log, sensor).exception("sensor_pass_failed")
        metrics.CONTROLLER_ERRORS.labels(CONTROLLER).inc()
        report.errors += 1


def _append(env: RuntimeEnv, batch: Sequence[OrchestrationEvent], report: PassReport) -> None:
    outcomes = env.append(batch)
    report.record(outcomes)
    _observe(env, batch, outcomes)


def _observe(
    env: RuntimeEnv, batch: Sequence[OrchestrationEvent], outcomes: Sequence[AppendOutcome]
) -> None:
    evaluation = _evaluation(batch)
    duplicate = outcomes[0].duplicate
    if not duplicate:
        metrics.SENSOR_EVALS.labels(evaluation.kind, evaluation.status).inc()
    log = env.log.bind(
        tenant_id=batch[0].tenant_id,
        workspace_id=batch[0].workspace_id,
        sensor_id=evaluation.sensor_id,
        eval_id=evaluation.eval_id,
    )
    fields = {"status": evaluation.status, "run_requests": len(evaluation.run_keys)}
    if duplicate:
        log.info("sensor_evaluation_duplicate", **fields)
    elif evaluation.status == "error":
        log.warning("sensor_evaluation_failed", error=evaluation.error, **fields)
    else:
        log.info("sensor_evaluated", **fields)


def _evaluation(batch: Sequence[OrchestrationEvent]) -> SensorEvaluated:
    data = batch[0].data
    if not isinstance(data, SensorEvaluated):
        raise TypeError("a sensor decision starts with its SensorEvaluated")
    return data


def _key(sensor: SensorView) -> JobKey:
    return (sensor.tenant_id, sensor.workspace_id, sensor.sensor_id)


def _bound(log: Any, sensor: SensorView, **more: object) -> Any:
    return log.bind(
        tenant_id=sensor.tenant_id,
        workspace_id=sensor.workspace_id,
        sensor_id=sensor.sensor_id,
        sensor_name=sensor.name,
        **more,
    )
