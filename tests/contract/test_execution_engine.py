"""The execution engine on every backend: passes + compactor drive runs, workers simulated."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine

from arco.clock import ManualClock
from arco.compactor import Compactor
from arco.controllers.asset_graph import AssetGraph, AssetNode
from arco.controllers.dispatch import DispatchLimits
from arco.errors import ArcoError, IllegalTransitionError, NotFoundError
from arco.events import OrchestrationEvent, Payload, RangeSelector
from arco.events.execution import (
    RetryPolicy,
    TaskError,
    TaskFinished,
    TaskHeartbeat,
    TaskStarted,
)
from arco.fold.rows import Scope
from arco.fold.tables import PARTITION_STATUS, RUNS, TASKS
from arco.ledger import SqlLedger
from arco.partitions import StaticPartitionsDefinition
from arco.runtime.env import PassReport, RuntimeEnv
from arco.runtime.execution_pass import ExecutionSettings, run_execution_pass
from arco.secrets import TenantSecrets
from arco.services import ServiceContext
from arco.services import runs as run_service
from arco.storage.reader import ProjectionReader, Query
from support.execution import Doc
from support.factories import SECRET, T0, TENANT, WORKSPACE

SCOPE = Scope(TENANT, WORKSPACE)
PARTITIONS = StaticPartitionsDefinition([f"p{i}" for i in range(10)])
GRAPH = AssetGraph.of(
    [
        AssetNode(
            "raw",
            partitions=PARTITIONS,
            code_version="r1",
            retry_policy=RetryPolicy(max_retries=1, delay_seconds=10),
        ),
        AssetNode("clean", deps=("raw",), partitions=PARTITIONS, code_version="c1"),
    ]
)
SETTINGS = ExecutionSettings(
    limits=DispatchLimits(max_concurrent_tasks=6, max_tasks_per_run=4),
    heartbeat_timeout=timedelta(seconds=30),
    dispatch_timeout=timedelta(seconds=60),
)


class Harness:
    """An Arco instance in a test: ledger, compactor, reader, a manual clock, one worker."""

    def __init__(self, ledger: SqlLedger, compactor: Compactor, engine: Engine) -> None:
        self.ledger = ledger
        self.compactor = compactor
        self.clock = ManualClock(T0)
        self.reader = ProjectionReader(engine)
        secrets = TenantSecrets({TENANT: SECRET})
        self.env = RuntimeEnv(ledger, self.reader, secrets, self.clock)
        self.ctx = ServiceContext(SCOPE, ledger, self.reader, secrets, self.clock, actor="ann")
        self.max_active = 0

    @property
    def now(self) -> datetime:
        return self.clock.now()

    def append(self, *payloads: Payload) -> None:
        self.ledger.append(
            [OrchestrationEvent.new(TENANT, WORKSPACE, p, now=self.now) for p in payloads]
        )

    def step(
        self, worker: Callable[[Harness, Doc], None] | None = None, seconds: float = 5
    ) -> PassReport:
        """Fold, one pass, fold, let the worker act on dispatched tasks, move the clock."""
        self.compactor.catch_up()
        report = run_execution_pass(self.env, self.now, GRAPH, SETTINGS)
        self.compactor.catch_up()
        active = sum(
            self.reader.count(TASKS, SCOPE, Query(where={"state": s}))
            for s in ("dispatched", "running")
        )
        self.max_active = max(self.max_active, active)
        if worker is not None:
            for task in self.reader.all(TASKS, SCOPE, Query(where={"state": "dispatched"})):
                worker(self, task)
        self.clock.advance(timedelta(seconds=seconds))
        return report

    def run(self, run_id: str) -> Doc:
        doc = self.reader.get(RUNS, SCOPE, run_id)
        assert doc is not None
        return doc

    def tasks(self, run_id: str) -> dict[str, Doc]:
        docs = self.reader.all(TASKS, SCOPE, Query(where={"run_id": run_id}))
        return {str(d["task_key"]): d for d in docs}

    def drive(
        self, run_id: str, worker: Callable[[Harness, Doc], None] | None, steps: int = 60
    ) -> Doc:
        for _ in range(steps):
            self.step(worker)
            if self.run(run_id)["state"] in ("succeeded", "failed", "cancelled"):
                break
        return self.run(run_id)


Worker = Callable[[Harness, Doc], None]


def started(task: Doc, worker: str = "w1") -> TaskStarted:
    return TaskStarted(
        run_id=str(task["run_id"]),
        task_key=str(task["task_key"]),
        attempt=int(str(task["attempt"])),
        attempt_id=str(task["attempt_id"]),
        worker_id=worker,
    )


def finished(task: Doc, outcome: str = "succeeded") -> TaskFinished:
    return TaskFinished(
        run_id=str(task["run_id"]),
        task_key=str(task["task_key"]),
        attempt=int(str(task["attempt"])),
        attempt_id=str(task["attempt_id"]),
        outcome=outcome,
        asset_key=str(task["asset_key"]),
        partition_key=str(task["partition_key"]),
        code_version=str(task["code_version"]),
        metadata={"rows": 10},
        error=None if outcome == "succeeded" else TaskError(kind="ValueError", message="bad row"),
    )


def diligent(arco: Harness, task: Doc) -> None:
    """Starts and finishes every task; raw[p3] fails its first attempt."""
    flaky = task["task_key"] == "raw[p3]" and task["attempt"] == 1
    arco.append(started(task), finished(task, "failed" if flaky else "succeeded"))


@pytest.fixture
def arco(ledger: SqlLedger, compactor: Compactor, engine: Engine) -> Harness:
    return Harness(ledger, compactor, engine)


def manual_run(arco: Harness, request_id: str = "r1") -> str:
    accepted = run_service.request_manual_run(
        arco.ctx,
        ["clean", "raw"],
        request_id=request_id,
        partition_selection=RangeSelector(start="p0", end="p9"),
    )
    assert accepted.resource_id is not None
    return accepted.resource_id


def test_a_two_asset_ten_partition_run_completes_with_a_retry(arco: Harness) -> None:
    run_id = manual_run(arco)
    run = arco.drive(run_id, diligent)
    assert run["state"] == "succeeded"
    assert run["task_counts"]["succeeded"] == 20
    tasks = arco.tasks(run_id)
    assert len(tasks) == 20
    assert all(t["state"] == "succeeded" for t in tasks.values())
    flaky = tasks["raw[p3]"]
    assert [a["outcome"] for a in flaky["attempts"]] == ["failed", "succeeded"]
    retry_gap = datetime.fromisoformat(str(flaky["attempts"][1]["dispatched_at"])) - (
        datetime.fromisoformat(str(flaky["attempts"][0]["finished_at"]))
    )
    assert retry_gap >= timedelta(seconds=10)
    assert arco.max_active <= 4  # the per-run limit held (the global one is 6)
    statuses = arco.reader.all(PARTITION_STATUS, SCOPE)
    assert len(statuses) == 20
    assert {s["last_materialization_run_id"] for s in statuses} == {run_id}
    assert {s["in_progress"] for s in statuses} == {False}
    assert arco.compactor.verify().ok


def test_the_pass_reports_when_it_next_has_work(arco: Harness) -> None:
    run_id = manual_run(arco)
    arco.compactor.catch_up()
    report = run_execution_pass(arco.env, arco.now, GRAPH, SETTINGS)
    assert report.decisions == 1  # the plan
    assert report.next_due == arco.now
    arco.compactor.catch_up()
    report = run_execution_pass(arco.env, arco.now, GRAPH, SETTINGS)
    assert report.decisions == 4  # four raw tasks, the per-run limit
    arco.compactor.catch_up()
    quiet = run_execution_pass(arco.env, arco.now, GRAPH, SETTINGS)
    assert quiet.appended == 0
    assert quiet.next_due == arco.now + SETTINGS.dispatch_timeout
    assert arco.run(run_id)["task_counts"]["dispatched"] == 4


def test_a_dead_worker_is_timed_out_and_the_task_retried(arco: Harness) -> None:
    run_id = manual_run(arco)

    def silent_on_p0(arco: Harness, task: Doc) -> None:
        if task["task_key"] == "raw[p0]" and task["attempt"] == 1:
            arco.append(started(task, "w-dead"))  # ... and never a heartbeat again
        else:
            diligent(arco, task)

    run = arco.drive(run_id, silent_on_p0)
    assert run["state"] == "succeeded"
    attempts = arco.tasks(run_id)["raw[p0]"]["attempts"]
    assert attempts[0]["worker_id"] == "w-dead"
    assert attempts[0]["error"]["kind"] == "heartbeat_timeout"
    assert attempts[1]["outcome"] == "succeeded"


def test_heartbeats_keep_a_long_attempt_alive(arco: Harness) -> None:
    run_id = manual_run(arco)
    arco.step()
    arco.step()
    task = arco.tasks(run_id)["raw[p0]"]
    arco.append(started(task))
    for sequence in range(10):  # 10 × 20s, far beyond the 30s timeout
        arco.append(
            TaskHeartbeat(
                run_id=run_id,
                task_key="raw[p0]",
                attempt_id=str(task["attempt_id"]),
                sequence=sequence,
            )
        )
        arco.step(seconds=20)
    assert arco.tasks(run_id)["raw[p0]"]["state"] == "running"


def test_a_dispatch_no_worker_takes_is_dispatched_again(arco: Harness) -> None:
    run_id = manual_run(arco)
    arco.step()
    arco.step()
    first = arco.tasks(run_id)["raw[p0]"]["attempt_id"]
    for _ in range(13):  # 65 s > the 60 s dispatch timeout
        arco.step()
    task = arco.tasks(run_id)["raw[p0]"]
    assert task["state"] == "dispatched"
    assert task["attempt"] == 2
    assert task["attempt_id"] != first
    assert task["attempts"][0]["outcome"] == "abandoned"


def test_cancel_stops_dispatch_and_the_run_ends_cancelled(arco: Harness) -> None:
    run_id = manual_run(arco)
    arco.step()
    arco.step()
    running = arco.tasks(run_id)["raw[p0]"]
    arco.append(started(running))
    run_service.cancel_run(arco.ctx, run_id, reason="oops")
    arco.step()
    assert arco.run(run_id)["state"] == "cancelling"
    assert arco.run(run_id)["cancel_requested_by"] == "ann"
    states = {t["state"] for k, t in arco.tasks(run_id).items() if k != "raw[p0]"}
    assert states == {"cancelled"}
    # The worker sees the run cancelling, kills its subprocess and reports so.
    arco.append(finished(running, "cancelled"))
    arco.step()
    assert arco.run(run_id)["state"] == "cancelled"
    with pytest.raises(IllegalTransitionError):
        run_service.cancel_run(arco.ctx, run_id)


def test_a_run_that_cannot_be_planned_fails_without_stopping_others(arco: Harness) -> None:
    bad = run_service.request_manual_run(arco.ctx, ["ghost"], request_id="bad").resource_id
    good = manual_run(arco, "good")
    assert bad is not None
    assert arco.drive(good, diligent)["state"] == "succeeded"
    assert arco.run(bad)["state"] == "failed"
    assert arco.run(bad)["error"]["kind"] == "unknown_asset"


def test_run_services_read_list_and_page(arco: Harness) -> None:
    first = manual_run(arco, "a")
    again = run_service.request_manual_run(
        arco.ctx,
        ["clean", "raw"],
        request_id="a",
        partition_selection=RangeSelector(start="p0", end="p9"),
    )
    assert again.duplicate
    assert again.resource_id == first
    arco.clock.advance(timedelta(minutes=1))
    second = manual_run(arco, "b")
    arco.step()
    page = run_service.list_runs(arco.ctx, limit=1)
    assert [r["run_id"] for r in page.items] == [second]
    rest = run_service.list_runs(arco.ctx, cursor=page.next_cursor, limit=1)
    assert [r["run_id"] for r in rest.items] == [first]
    assert (
        run_service.list_runs(arco.ctx, until=T0 + timedelta(seconds=30)).items[0]["run_id"]
        == first
    )
    assert run_service.list_runs(arco.ctx, state="queued").items == []
    tasks = run_service.list_tasks(arco.ctx, first, limit=11)
    assert [t["task_key"] for t in tasks.items][:2] == ["raw[p0]", "raw[p1]"]
    assert tasks.items[10]["task_key"] == "clean[p0]"
    assert run_service.get_task(arco.ctx, first, "clean[p9]")["state"] == "pending"
    with pytest.raises(NotFoundError):
        run_service.get_run(arco.ctx, "run_nope")


def test_a_decision_that_raises_is_isolated_to_its_run(
    arco: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    from arco.controllers import run_bridge

    broken = manual_run(arco, "broken")
    fine = manual_run(arco, "fine")
    real_bridge = run_bridge.bridge

    def bridge(scope: Scope, run: run_bridge.QueuedRun, *args: object, **kw: int) -> object:
        if run.run_id == broken:
            raise RuntimeError("bug in planning")
        return real_bridge(scope, run, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(run_bridge, "bridge", bridge)
    arco.compactor.catch_up()
    report = run_execution_pass(arco.env, arco.now, GRAPH, SETTINGS)
    arco.compactor.catch_up()
    assert report.errors == 1
    assert arco.run(broken)["state"] == "queued"
    assert arco.run(fine)["state"] == "running"


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda ctx: run_service.request_manual_run(ctx, []), "asset_selection"),
        (lambda ctx: run_service.request_manual_run(ctx, ["raw"], []), "partition_keys"),
        (lambda ctx: run_service.list_runs(ctx, state="paused"), "state"),
        (lambda ctx: run_service.list_tasks(ctx, "run_nope"), "run_id"),
    ],
)
def test_run_services_reject_bad_input_naming_the_field(
    arco: Harness, call: Callable[[ServiceContext], object], field: str
) -> None:
    with pytest.raises(ArcoError) as raised:
        call(arco.ctx)
    assert raised.value.field == field


def test_a_manual_run_with_partition_keys_runs_just_those(arco: Harness) -> None:
    accepted = run_service.request_manual_run(
        arco.ctx, ["raw"], ["p2", "p5"], {"team": "data"}, "req-7"
    )
    assert accepted.resource_id is not None
    arco.step()
    run = arco.run(accepted.resource_id)
    assert run["run_key"] == "manual:req-7"
    assert run["source"] == {"kind": "manual", "user": "ann", "request_id": "req-7"}
    assert run["tags"] == {"team": "data"}
    assert sorted(arco.tasks(accepted.resource_id)) == ["raw[p2]", "raw[p5]"]
