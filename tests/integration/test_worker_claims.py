"""The worker: claiming dispatched tasks (the TaskStarted lease), running and reporting them.

Tasks are set up by appending the execution engine's facts directly (RunRequested,
PlanCreated, DispatchRequested) and folding them, so these tests exercise only
the worker against a real ledger and projections, on every backend.
"""

from __future__ import annotations

import os
import signal
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from arco.clock import SystemClock
from arco.compactor import Compactor
from arco.errors import StorageError
from arco.events import (
    DispatchRequested,
    OrchestrationEvent,
    PlanCreated,
    RunCancelRequested,
    TaskFinished,
    TaskHeartbeat,
    TaskSpec,
    TaskStarted,
)
from arco.events.execution import TaskError, task_key_for
from arco.fold.rows import Scope
from arco.fold.tables import PARTITION_STATUS, TASKS
from arco.ledger import SqlLedger
from arco.runtime.compute_logs import read_compute_log
from arco.runtime.env import RuntimeEnv
from arco.runtime.executor import SubprocessExecution
from arco.runtime.worker import Worker, WorkerReport, WorkerSettings, run_worker
from arco.sdk import Definitions
from arco.sdk.loading import load_definitions
from arco.secrets import TenantSecrets
from arco.storage.reader import Page, ProjectionReader
from support.factories import SECRET, TENANT, WORKSPACE, run_requested

SCOPE = Scope(TENANT, WORKSPACE)

PROJECT = """
import os, time
from arco import AssetExecutionContext, Definitions, StaticPartitionsDefinition, asset

PARTS = StaticPartitionsDefinition(["p1", "p2", "p3"])

@asset(partitions_def=PARTS, code_version="v3")
def fine(context: AssetExecutionContext) -> dict[str, object]:
    context.log.info("fine %s", context.partition_key)
    return {"partition": context.partition_key}

@asset
def crashes() -> None:
    print("crashing now", flush=True)
    os._exit(7)

@asset
def raises() -> None:
    raise RuntimeError("user code broke")

@asset
def slow() -> None:
    time.sleep(float(os.environ.get("ARCO_TEST_SLOW_SECONDS", "1.0")))

@asset
def forever() -> None:
    print(os.getpid(), flush=True)
    time.sleep(120)

defs = Definitions(assets=[fine, crashes, raises, slow, forever])
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Definitions:
    path = tmp_path_factory.mktemp("project") / "definitions.py"
    path.write_text(textwrap.dedent(PROJECT))
    return load_definitions(file=path)


@pytest.fixture
def env(ledger: SqlLedger) -> RuntimeEnv:
    return RuntimeEnv(
        ledger, ProjectionReader(ledger.engine), TenantSecrets({TENANT: SECRET}), SystemClock()
    )


class Workers:
    """Builds workers and kills whatever they still run when the test ends."""

    def __init__(self, env: RuntimeEnv, project: Definitions, settings: WorkerSettings) -> None:
        self.env, self.project, self.settings = env, project, settings
        self.built: list[Worker] = []

    def __call__(self, worker_id: str, **changes: object) -> Worker:
        worker = Worker(self.env, self.project, replace(self.settings, **changes), worker_id)  # type: ignore[arg-type]
        self.built.append(worker)
        return worker


@pytest.fixture
def workers(env: RuntimeEnv, project: Definitions, settings: WorkerSettings) -> Iterator[Workers]:
    made = Workers(env, project, settings)
    yield made
    for worker in made.built:
        worker.drain(0)


@pytest.fixture
def settings(tmp_path: Path) -> WorkerSettings:
    return WorkerSettings(
        logs_dir=tmp_path / "logs",
        poll_interval=0.02,
        heartbeat_interval=timedelta(seconds=0.2),
        cancel_check_interval=timedelta(seconds=0.1),
        scopes=(SCOPE,),
    )


def append(env: RuntimeEnv, *payloads: object) -> None:
    now = env.clock.now()
    env.ledger.append([OrchestrationEvent.new(TENANT, WORKSPACE, p, now=now) for p in payloads])  # type: ignore[arg-type]


def dispatch(
    env: RuntimeEnv, compactor: Compactor, asset: str, partition: str | None = None
) -> tuple[str, str, str]:
    """A run with one task, dispatched as attempt 1; returns (run_id, task_key, attempt_id)."""
    run_key = f"test:{asset}:{partition}:{time.monotonic_ns()}"
    request = run_requested(run_key, assets=(asset,))
    task_key = task_key_for(asset, partition)
    spec = TaskSpec(task_key=task_key, asset_key=asset, partition_key=partition)
    attempt_id = f"att-{run_key}"
    append(env, request, PlanCreated(run_id=request.run_id, tasks=(spec,)))
    append(
        env,
        DispatchRequested(
            run_id=request.run_id, task_key=task_key, attempt=1, attempt_id=attempt_id
        ),
    )
    compactor.catch_up()
    return request.run_id, task_key, attempt_id


def payloads(ledger: SqlLedger, kind: type[object]) -> list[object]:
    return [e.data for e in ledger.read(limit=100_000) if isinstance(e.data, kind)]


def finished(ledger: SqlLedger) -> list[TaskFinished]:
    return payloads(ledger, TaskFinished)  # type: ignore[return-value]


def step_until(worker: Worker, done: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "timed out"
        worker.step()
        time.sleep(0.02)


def task_doc(env: RuntimeEnv, run_id: str, task_key: str) -> dict[str, object]:
    doc = env.reader.get(TASKS, SCOPE, f"{run_id}:{task_key}")
    assert doc is not None
    return doc


def test_a_claimed_task_runs_and_its_facts_fold_into_success(
    env: RuntimeEnv,
    compactor: Compactor,
    project: Definitions,
    settings: WorkerSettings,
    workers: Workers,
) -> None:
    run_id, task_key, attempt_id = dispatch(env, compactor, "fine", "p2")
    worker = workers("w-a")
    step_until(worker, lambda: bool(finished(env.ledger)))
    started = payloads(env.ledger, TaskStarted)
    assert started == [
        TaskStarted(
            run_id=run_id, task_key=task_key, attempt=1, attempt_id=attempt_id, worker_id="w-a"
        )
    ]
    [report] = finished(env.ledger)
    assert report.outcome == "succeeded"
    assert (report.asset_key, report.partition_key, report.code_version) == ("fine", "p2", "v3")
    assert report.metadata == {"partition": "p2"}
    compactor.catch_up()
    assert task_doc(env, run_id, task_key)["state"] == "succeeded"
    status = env.reader.get(PARTITION_STATUS, SCOPE, "fine|p2")
    assert status is not None
    assert status["last_materialization_run_id"] == run_id
    log = read_compute_log(settings.logs_dir, run_id, task_key, 1, "stderr").text
    assert "fine p2" in log


def test_two_workers_racing_for_one_task_only_one_runs_it(
    env: RuntimeEnv,
    compactor: Compactor,
    project: Definitions,
    settings: WorkerSettings,
    workers: Workers,
) -> None:
    run_id, _, attempt_id = dispatch(env, compactor, "fine", "p1")
    racers = [workers(f"w-{i}") for i in range(4)]
    [doc] = env.reader.all(TASKS, SCOPE)
    barrier = threading.Barrier(len(racers))
    claims: dict[str, bool] = {}

    def claim(worker: Worker) -> None:
        barrier.wait()
        claims[worker.worker_id] = worker.claim(SCOPE, doc)

    threads = [threading.Thread(target=claim, args=(w,)) for w in racers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [name for name, won in claims.items() if won]
    assert len(winners) == 1
    [started] = payloads(env.ledger, TaskStarted)
    assert isinstance(started, TaskStarted)
    assert (started.run_id, started.attempt_id, started.worker_id) == (
        run_id,
        attempt_id,
        winners[0],
    )
    running = [w for w in racers if w.running]
    assert [w.worker_id for w in running] == winners
    step_until(running[0], lambda: bool(finished(env.ledger)))
    for worker in racers:
        worker.step()
    assert len(payloads(env.ledger, TaskStarted)) == 1
    assert len(finished(env.ledger)) == 1


def test_a_claim_whose_append_was_ours_is_still_ours(
    env: RuntimeEnv,
    compactor: Compactor,
    project: Definitions,
    settings: WorkerSettings,
    workers: Workers,
) -> None:
    """A retried append after an ambiguous commit comes back Duplicate; the winner is us."""
    run_id, task_key, attempt_id = dispatch(env, compactor, "fine", "p3")
    append(
        env,
        TaskStarted(
            run_id=run_id, task_key=task_key, attempt=1, attempt_id=attempt_id, worker_id="w-me"
        ),
    )
    [doc] = env.reader.all(TASKS, SCOPE)
    assert workers("w-other").claim(SCOPE, doc) is False
    assert workers("w-me").claim(SCOPE, doc) is True


def test_a_crashing_asset_is_a_failed_attempt_and_the_worker_goes_on(
    env: RuntimeEnv,
    compactor: Compactor,
    project: Definitions,
    settings: WorkerSettings,
    workers: Workers,
) -> None:
    crash_run, crash_key, _ = dispatch(env, compactor, "crashes")
    raise_run, _, _ = dispatch(env, compactor, "raises")
    fine_run, _, _ = dispatch(env, compactor, "fine", "p1")
    worker = workers("w-crash", concurrency=3)
    step_until(worker, lambda: len(finished(env.ledger)) == 3)
    by_run = {report.run_id: report for report in finished(env.ledger)}
    crash = by_run[crash_run]
    assert crash.outcome == "failed"
    assert crash.error is not None
    assert crash.error.kind == "ProcessExited"
    assert "exit code 7" in crash.error.message
    assert read_compute_log(settings.logs_dir, crash_run, crash_key, 1).text == "crashing now\n"
    raised = by_run[raise_run]
    assert raised.error is not None
    assert raised.error.kind == "RuntimeError"
    assert raised.error.traceback is not None
    assert "user code broke" in raised.error.traceback
    assert by_run[fine_run].outcome == "succeeded"
    compactor.catch_up()
    assert task_doc(env, crash_run, crash_key)["state"] == "failed"


def test_heartbeats_are_sent_while_the_asset_runs(
    env: RuntimeEnv,
    compactor: Compactor,
    project: Definitions,
    settings: WorkerSettings,
    workers: Workers,
) -> None:
    os.environ["ARCO_TEST_SLOW_SECONDS"] = "1.2"
    run_id, task_key, attempt_id = dispatch(env, compactor, "slow")
    worker = workers("w-hb")
    step_until(worker, lambda: bool(finished(env.ledger)))
    beats: list[TaskHeartbeat] = payloads(env.ledger, TaskHeartbeat)  # type: ignore[assignment]
    assert len(beats) >= 3
    assert [b.sequence for b in beats] == list(range(1, len(beats) + 1))
    assert {(b.run_id, b.task_key, b.attempt_id) for b in beats} == {(run_id, task_key, attempt_id)}
    compactor.catch_up()
    assert task_doc(env, run_id, task_key)["heartbeat_sequence"] == len(beats)


def test_cancelling_the_run_kills_the_subprocess(
    env: RuntimeEnv,
    compactor: Compactor,
    project: Definitions,
    settings: WorkerSettings,
    workers: Workers,
) -> None:
    run_id, task_key, _ = dispatch(env, compactor, "forever")
    worker = workers("w-cancel")
    log = settings.logs_dir

    def child_pid() -> int | None:
        try:
            text = read_compute_log(log, run_id, task_key, 1).text.strip()
        except Exception:
            return None
        return int(text) if text else None

    step_until(worker, lambda: child_pid() is not None)
    pid = child_pid()
    assert pid is not None
    append(env, RunCancelRequested(run_id=run_id, requested_by="tester"))
    compactor.catch_up()
    started = time.monotonic()
    step_until(worker, lambda: bool(finished(env.ledger)), timeout=10)
    assert time.monotonic() - started < 5
    [report] = finished(env.ledger)
    assert report.outcome == "cancelled"
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    compactor.catch_up()
    assert task_doc(env, run_id, task_key)["state"] == "cancelled"


def test_tasks_of_assets_this_worker_does_not_have_are_left_alone(
    env: RuntimeEnv,
    compactor: Compactor,
    project: Definitions,
    settings: WorkerSettings,
    workers: Workers,
) -> None:
    dispatch(env, compactor, "somebody_elses_asset")
    worker = workers("w-skip")
    for _ in range(3):
        worker.step()
    assert payloads(env.ledger, TaskStarted) == []


def test_run_worker_stops_when_told_and_reports_what_it_did(
    env: RuntimeEnv,
    compactor: Compactor,
    project: Definitions,
    settings: WorkerSettings,
    workers: Workers,
) -> None:
    for partition in ("p1", "p2", "p3"):
        dispatch(env, compactor, "fine", partition)
    stop = threading.Event()
    reports: list[object] = []

    def serve() -> None:
        reports.append(
            run_worker(
                env, project, concurrency=2, worker_id="w-loop", stop_event=stop, settings=settings
            )
        )

    thread = threading.Thread(target=serve)
    thread.start()
    deadline = time.monotonic() + 60
    while len(finished(env.ledger)) < 3:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    stop.set()
    thread.join(timeout=30)
    assert not thread.is_alive()
    [report] = reports
    assert report.finished == {"succeeded": 3}  # type: ignore[attr-defined]
    assert report.claimed == 3  # type: ignore[attr-defined]


@pytest.fixture(autouse=True)
def _slow_env() -> Iterator[None]:
    yield
    os.environ.pop("ARCO_TEST_SLOW_SECONDS", None)


def test_an_attempt_the_engine_declared_dead_is_killed(
    env: RuntimeEnv,
    compactor: Compactor,
    project: Definitions,
    settings: WorkerSettings,
    workers: Workers,
) -> None:
    """After a heartbeat timeout the engine reports the attempt failed; the zombie must die."""
    run_id, task_key, attempt_id = dispatch(env, compactor, "forever")
    worker = workers("w-zombie")
    step_until(worker, lambda: bool(worker.running))
    [running] = worker.running.values()
    execution = running.execution
    assert isinstance(execution, SubprocessExecution)
    declared_dead = TaskFinished(
        run_id=run_id,
        task_key=task_key,
        attempt=1,
        attempt_id=attempt_id,
        outcome="failed",
        asset_key="forever",
        error=TaskError(kind="heartbeat_timeout", message="no heartbeat"),
    )
    append(env, declared_dead)
    compactor.catch_up()
    step_until(worker, lambda: not worker.running, timeout=10)
    assert execution.returncode == -signal.SIGKILL
    [report] = finished(env.ledger)
    assert report.error is not None
    assert report.error.kind == "heartbeat_timeout"  # the worker's own report was a duplicate


class FlakyReader(ProjectionReader):
    """Fails its first few page reads, as a database restarting would."""

    def __init__(self, engine: Engine, failures: int) -> None:
        super().__init__(engine)
        self.failures = failures

    def page(self, *args: Any, **kwargs: Any) -> Page:
        if self.failures > 0:
            self.failures -= 1
            raise StorageError("database is restarting")
        return super().page(*args, **kwargs)


def test_a_worker_survives_a_failing_store_and_carries_on(
    env: RuntimeEnv, compactor: Compactor, project: Definitions, settings: WorkerSettings
) -> None:
    dispatch(env, compactor, "fine", "p1")
    flaky = replace(env, reader=FlakyReader(env.ledger.engine, failures=3))
    stop = threading.Event()
    reports: list[WorkerReport] = []
    thread = threading.Thread(
        target=lambda: reports.append(
            run_worker(flaky, project, worker_id="w-flaky", stop_event=stop, settings=settings)
        )
    )
    thread.start()
    deadline = time.monotonic() + 60
    while not finished(env.ledger):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    stop.set()
    thread.join(timeout=30)
    assert isinstance(flaky.reader, FlakyReader)
    assert flaky.reader.failures == 0
    assert reports[0].finished == {"succeeded": 1}


def test_stopping_kills_what_outlives_the_drain_timeout_and_reports_it_failed(
    env: RuntimeEnv,
    compactor: Compactor,
    project: Definitions,
    settings: WorkerSettings,
    workers: Workers,
) -> None:
    dispatch(env, compactor, "forever")
    worker = workers("w-stop")
    step_until(worker, lambda: bool(worker.running))
    [running] = worker.running.values()
    execution = running.execution
    assert isinstance(execution, SubprocessExecution)
    worker.drain(0.2)
    assert execution.returncode == -signal.SIGKILL
    [report] = finished(env.ledger)
    assert report.outcome == "failed"  # so that the retry policy gives it another attempt
    assert report.error is not None
    assert report.error.kind == "WorkerStopped"
