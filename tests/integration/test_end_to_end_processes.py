"""Real processes: a daemon (compactor + backfill and execution passes) and two workers.

A backfill of 50 daily partitions of ``raw → summary`` runs to completion with
every partition materialized exactly once, also when a worker is SIGKILLed in the
middle of a task: its heartbeats stop, the execution engine fails the attempt
with ``heartbeat_timeout``, the retry policy dispatches a new attempt and the
other worker runs it.  The killed worker's task process dies with it.

This file is also the children's entry point (``python THIS_FILE daemon|worker ...``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import pytest

TENANT, WORKSPACE = "e2e", "main"
SECRETS = json.dumps({TENANT: "e2e-secret"})
FIRST, LAST = "2024-01-01", "2024-02-19"  # 50 days
SLOW_KEY = "2024-01-17"
HEARTBEAT_TIMEOUT = timedelta(seconds=3)

PROJECT = """
import os, time
from pathlib import Path
from arco import AssetExecutionContext, DailyPartitionsDefinition, Definitions, RetryPolicy, asset

DAILY = DailyPartitionsDefinition(start_date="2024-01-01")
MARKERS = Path(os.environ["E2E_MARKERS"])
SLOW_KEY = os.environ.get("E2E_SLOW_KEY", "")

@asset(partitions_def=DAILY, code_version="raw-1", retry_policy=RetryPolicy(max_retries=2))
def raw(context: AssetExecutionContext) -> dict[str, object]:
    if context.partition_key == SLOW_KEY:
        (MARKERS / f"slow-{context.attempt}").write_text(str(os.getpid()))
        if context.attempt == 1:
            time.sleep(120)  # killed long before this ends
    return {"pid": os.getpid()}

@asset(deps=[raw], partitions_def=DAILY, code_version="sum-1", retry_policy=RetryPolicy(max_retries=2))
def summary(context: AssetExecutionContext) -> None:
    return None

defs = Definitions(assets=[raw, summary])
"""


# --- the children -----------------------------------------------------------------------


def _stop_on_sigterm() -> threading.Event:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    return stop


def run_daemon(url: str, project: str) -> None:
    from arco.runtime.backfill_pass import run_backfill_pass
    from arco.runtime.daemon import Daemon
    from arco.runtime.execution_pass import ExecutionSettings, execution_pass
    from arco.runtime.instance import Instance
    from arco.sdk.loading import load_definitions
    from arco.secrets import load_secrets

    instance = Instance.open(url)
    env = instance.runtime_env(load_secrets())
    graph = load_definitions(file=project).asset_graph()
    settings = ExecutionSettings(heartbeat_timeout=HEARTBEAT_TIMEOUT)
    passes = [("backfills", run_backfill_pass), ("execution", execution_pass(graph, settings))]
    Daemon(env, instance.compactor, passes, interval=0.1).run_forever(_stop_on_sigterm())


def run_worker_process(url: str, project: str, worker_id: str, logs_dir: str) -> None:
    from arco.runtime.instance import Instance
    from arco.runtime.worker import WorkerSettings, run_worker
    from arco.sdk.loading import load_definitions
    from arco.secrets import load_secrets

    instance = Instance.open(url)
    settings = WorkerSettings(
        logs_dir=Path(logs_dir),
        poll_interval=0.05,
        heartbeat_interval=timedelta(seconds=0.5),
        cancel_check_interval=timedelta(seconds=0.5),
        drain_timeout=5,
    )
    run_worker(
        instance.runtime_env(load_secrets()),
        load_definitions(file=project),
        concurrency=2,
        worker_id=worker_id,
        stop_event=_stop_on_sigterm(),
        settings=settings,
    )


if __name__ == "__main__":
    role, *arguments = sys.argv[1:]
    if role == "daemon":
        run_daemon(*arguments)
    else:
        run_worker_process(*arguments)
    sys.exit(0)


# --- the test ---------------------------------------------------------------------------

from arco.events import RangeSelector, TaskFinished, TaskStarted  # noqa: E402
from arco.fold.rows import Scope  # noqa: E402
from arco.fold.tables import BACKFILLS, PARTITION_STATUS, RUNS  # noqa: E402
from arco.runtime.instance import Instance  # noqa: E402
from arco.sdk.loading import load_definitions  # noqa: E402
from arco.secrets import TenantSecrets  # noqa: E402
from arco.services import ServiceContext  # noqa: E402
from arco.services import backfills as backfill_service  # noqa: E402
from arco.storage.reader import Query  # noqa: E402

SCOPE = Scope(TENANT, WORKSPACE)
P = TypeVar("P")
pytestmark = pytest.mark.slow


class Cluster:
    """The child processes of one test, stopped (or killed) at the end."""

    def __init__(self, url: str, project: Path, directory: Path, env: dict[str, str]) -> None:
        self.url, self.project, self.directory, self.env = url, project, directory, env
        self.children: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, *arguments: str) -> None:
        with (self.directory / f"{name}.log").open("wb") as log:
            self.children[name] = subprocess.Popen(
                [sys.executable, __file__, *arguments],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
            )

    def kill(self, name: str) -> None:
        child = self.children.pop(name)
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=10) == -signal.SIGKILL

    def stop(self) -> None:
        for child in self.children.values():
            child.send_signal(signal.SIGTERM)
        for name, child in self.children.items():
            try:
                child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
                raise AssertionError(f"{name} did not stop on SIGTERM") from None

    def log(self, name: str) -> str:
        return (self.directory / f"{name}.log").read_text(errors="replace")


@pytest.fixture
def cluster(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cluster]:
    project = tmp_path / "definitions.py"
    project.write_text(textwrap.dedent(PROJECT))
    markers = tmp_path / "markers"
    markers.mkdir()
    monkeypatch.setenv("E2E_MARKERS", str(markers))
    monkeypatch.setenv("ARCO_TENANT_SECRETS", SECRETS)
    made = Cluster(db_url, project, tmp_path, dict(os.environ))
    yield made
    made.stop()


def start_all(cluster: Cluster) -> None:
    logs = str(cluster.directory / "compute_logs")
    cluster.start("daemon", "daemon", cluster.url, str(cluster.project))
    for name in ("w1", "w2"):
        cluster.start(name, "worker", cluster.url, str(cluster.project), name, logs)


def create_backfill(instance: Instance, project: Path) -> str:
    definitions = load_definitions(file=project)
    context = ServiceContext(
        SCOPE, instance.ledger, instance.reader, TenantSecrets(json.loads(SECRETS)), instance.clock
    )
    accepted = backfill_service.create(
        context,
        definitions.partitions_by_asset(),
        asset_selection=["raw", "summary"],
        selector=RangeSelector(start=FIRST, end=LAST),
        chunk_size=5,
        max_concurrent_runs=4,
    )
    assert accepted.resource_id is not None
    return accepted.resource_id


def wait_for(what: str, check: object, cluster: Cluster, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            logs = "\n".join(f"--- {n}\n{cluster.log(n)[-3000:]}" for n in ("daemon", "w1", "w2"))
            raise AssertionError(f"timed out waiting for {what}\n{logs}")
        for name, child in cluster.children.items():
            assert child.poll() is None, f"{name} died:\n{cluster.log(name)[-3000:]}"
        time.sleep(0.2)


def backfill_state(instance: Instance, backfill_id: str) -> str:
    doc = instance.reader.get(BACKFILLS, SCOPE, backfill_id)
    return "" if doc is None else str(doc["state"])


def events_of(instance: Instance, kind: type[P]) -> list[P]:
    found: list[P] = []
    after = 0
    while batch := instance.ledger.read(after_offset=after, limit=5000):
        found += [e.data for e in batch if isinstance(e.data, kind)]
        after = batch[-1].offset
    return found


def assert_each_partition_materialized_once(instance: Instance) -> list[TaskFinished]:
    reports = events_of(instance, TaskFinished)
    succeeded = Counter((r.asset_key, r.partition_key) for r in reports if r.outcome == "succeeded")
    days = [
        (datetime(2024, 1, 1, tzinfo=UTC) + timedelta(days=i)).strftime("%Y-%m-%d")
        for i in range(50)
    ]
    expected = {(asset, day): 1 for asset in ("raw", "summary") for day in days}
    assert dict(succeeded) == expected
    rows = instance.reader.all(PARTITION_STATUS, SCOPE)
    assert len(rows) == 100
    assert all(row["last_materialization_run_id"] is not None for row in rows)
    runs = instance.reader.all(RUNS, SCOPE, Query())
    assert len(runs) == 10
    assert {run["state"] for run in runs} == {"succeeded"}
    return reports


def test_two_workers_complete_a_backfill_of_50_partitions(cluster: Cluster) -> None:
    start_all(cluster)
    instance = Instance.open(cluster.url)
    try:
        backfill_id = create_backfill(instance, cluster.project)
        wait_for(
            "the backfill", lambda: backfill_state(instance, backfill_id) == "SUCCEEDED", cluster
        )
        reports = assert_each_partition_materialized_once(instance)
        assert all(r.outcome == "succeeded" for r in reports)
        started = events_of(instance, TaskStarted)
        assert {s.worker_id for s in started} == {"w1", "w2"}  # both did work
    finally:
        instance.close()


def test_a_worker_killed_mid_task_is_replaced_by_a_retry(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    cluster.env["E2E_SLOW_KEY"] = SLOW_KEY
    start_all(cluster)
    markers = Path(cluster.env["E2E_MARKERS"])
    instance = Instance.open(cluster.url)
    try:
        backfill_id = create_backfill(instance, cluster.project)
        wait_for("the slow task to start", (markers / "slow-1").exists, cluster)
        task_pid = int((markers / "slow-1").read_text())
        owner = next(
            s.worker_id
            for s in events_of(instance, TaskStarted)
            if s.task_key == f"raw[{SLOW_KEY}]"
        )
        cluster.kill(owner)
        wait_for("the orphaned task process to die", lambda: not _alive(task_pid), cluster, 10)
        wait_for(
            "the backfill", lambda: backfill_state(instance, backfill_id) == "SUCCEEDED", cluster
        )
        reports = assert_each_partition_materialized_once(instance)
        slow = [r for r in reports if r.task_key == f"raw[{SLOW_KEY}]"]
        assert [(r.attempt, r.outcome) for r in slow] == [(1, "failed"), (2, "succeeded")]
        assert slow[0].error is not None
        assert slow[0].error.kind == "heartbeat_timeout"
        second = [
            s
            for s in events_of(instance, TaskStarted)
            if s.task_key == f"raw[{SLOW_KEY}]" and s.attempt == 2
        ]
        assert [s.worker_id for s in second] == [{"w1": "w2", "w2": "w1"}[owner]]
    finally:
        instance.close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (dead, not yet reaped by its parent) counts as dead.
    status = Path(f"/proc/{pid}/status")
    return not (status.exists() and "State:\tZ" in status.read_text())
