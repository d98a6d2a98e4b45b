"""An in-process Arco for users' own tests: a temporary SQLite store and a manual clock.

::

    with ArcoTestInstance(defs, start=datetime(2024, 3, 10, 6, tzinfo=UTC)) as arco:
        arco.set_time(datetime(2024, 3, 10, 7, 1, tzinfo=UTC))
        arco.tick()
        assert [t["status"] for t in arco.ticks("daily_refresh")] == ["triggered"]

Time moves only when told (:meth:`ArcoTestInstance.advance`, :meth:`set_time`).
:meth:`tick` is one beat of the daemon at the current instant: schedules and
sensors are evaluated once, then backfills, the execution engine, the compactor
and the tasks (run inline, in this process) go round until nothing more happens
at this instant.  Each piece can also be run alone (``run_schedules``,
``run_sensors``, ``run_backfills``, ``run_execution``, ``run_tasks``,
``compact``).  Reads return projection documents (plain dicts).
"""

from __future__ import annotations

import base64
import json
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import TypeVar

from arco.clock import ManualClock
from arco.events import KeysSelector, Payload, PushMessage, RangeSelector, StoredEvent
from arco.fold.execution_state import task_pk
from arco.fold.rows import Doc, Scope
from arco.fold.tables import PARTITION_STATUS, RUNS, TASKS
from arco.runtime.backfill_pass import run_backfill_pass
from arco.runtime.compute_logs import LogStream, read_compute_log
from arco.runtime.env import PassReport, RuntimeEnv
from arco.runtime.execution_pass import ExecutionSettings, run_execution_pass
from arco.runtime.instance import Instance
from arco.runtime.schedule_pass import run_schedule_pass
from arco.runtime.sensor_pass import EvaluationReport, SensorExecutor, run_sensor_pass
from arco.runtime.worker import run_task_pass
from arco.sdk.context import build_asset_context
from arco.sdk.definitions import Definitions
from arco.secrets import TenantSecrets
from arco.services import ServiceContext
from arco.services import backfills as backfill_service
from arco.services import runs as run_service
from arco.services import schedules as schedule_service
from arco.services import sensors as sensor_service
from arco.services.definitions import sync_definitions
from arco.storage.database import sqlite_url
from arco.storage.reader import Query

P = TypeVar("P", bound=Payload)
MAX_ROUNDS = 1000
TEST_SECRET = "arco-testing-secret"

__all__ = ["ArcoTestInstance", "build_asset_context"]


class ArcoTestInstance:
    """A whole Arco (ledger, projections, controllers, an inline worker) for one test."""

    def __init__(
        self,
        definitions: Definitions,
        *,
        start: datetime,
        tenant: str = "default",
        workspace: str = "default",
        directory: Path | None = None,
        execution: ExecutionSettings | None = None,
    ) -> None:
        self.definitions = definitions
        self.scope = Scope(tenant, workspace)
        self.clock = ManualClock(start)
        self._temporary: tempfile.TemporaryDirectory[str] | None = None
        if directory is None:
            self._temporary = tempfile.TemporaryDirectory(prefix="arco-testing-")
            directory = Path(self._temporary.name)
        self.directory = directory
        self.instance = Instance.open(sqlite_url(self.directory), clock=self.clock, migrate=True)
        self.env: RuntimeEnv = self.instance.runtime_env(TenantSecrets({tenant: TEST_SECRET}))
        self.logs_dir = self.directory / "compute_logs"
        self._graph = definitions.asset_graph()
        self._execution = execution or ExecutionSettings()
        self._sensor_executor = SensorExecutor()
        self._message_count = 0
        self.synced = sync_definitions(self.context, definitions, wait_seconds=None)
        self.compact()

    # --- lifecycle ----------------------------------------------------------------------

    def close(self) -> None:
        self.instance.close()
        if self._temporary is not None:
            self._temporary.cleanup()

    def __enter__(self) -> ArcoTestInstance:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def context(self) -> ServiceContext:
        """What the API and CLI would pass to a service function, as this test's caller."""
        return ServiceContext(
            self.scope,
            self.instance.ledger,
            self.instance.reader,
            self.env.secrets,
            self.clock,
            actor="arco.testing",
        )

    # --- time -----------------------------------------------------------------------------

    @property
    def now(self) -> datetime:
        return self.clock.now()

    def advance(self, delta: timedelta) -> datetime:
        """Move the clock forward (nothing runs until :meth:`tick`)."""
        return self.clock.advance(delta)

    def set_time(self, instant: datetime) -> None:
        """Jump the clock to ``instant`` (never backwards; nothing runs until :meth:`tick`)."""
        self.clock.set(instant)

    # --- running --------------------------------------------------------------------------

    def tick(self) -> list[PassReport]:
        """One daemon beat at ``now``: automation once, then execution until nothing moves."""
        reports = self._automation_passes()
        for _ in range(MAX_ROUNDS):
            round_reports = [self.run_backfills(), self.run_execution()]
            reports += round_reports
            executed = self.run_tasks()
            if executed == 0 and not any(r.appended for r in round_reports):
                return reports
        raise AssertionError(f"still busy after {MAX_ROUNDS} rounds at {self.now.isoformat()}")

    def compact(self) -> int:
        """Fold the ledger into the projections; returns how many events."""
        return self.instance.compactor.catch_up()

    def run_backfills(self) -> PassReport:
        """Plan chunks of active backfills, finish and cancel them."""
        return self._pass(run_backfill_pass)

    def run_execution(self) -> PassReport:
        """Plan queued runs, time out, retry and dispatch tasks."""
        return self._pass(
            lambda env, now: run_execution_pass(env, now, self._graph, self._execution)
        )

    def run_tasks(self) -> int:
        """Run every dispatched task inline, to completion; returns how many ran."""
        self.compact()
        report = run_task_pass(
            self.env,
            self.definitions,
            logs_dir=self.logs_dir,
            worker_id="arco-testing",
            scopes=(self.scope,),
        )
        self.compact()
        return report.claimed

    def run_sensors(self) -> PassReport:
        """Evaluate every due poll sensor once (user code runs in this process)."""
        registry = self.definitions.sensors_by_name
        return self._pass(
            lambda env, now: run_sensor_pass(env, now, registry, executor=self._sensor_executor)
        )

    def run_schedules(self) -> PassReport:
        """Evaluate every schedule at ``now`` (ticks due since its last one, with catch-up)."""
        return self._pass(run_schedule_pass)

    def _automation_passes(self) -> list[PassReport]:
        return [self.run_schedules(), self.run_sensors()]

    def _pass(self, run_pass: Callable[[RuntimeEnv, datetime], PassReport]) -> PassReport:
        self.compact()
        report = run_pass(self.env, self.now)
        self.compact()
        if report.errors:
            raise AssertionError(
                f"the {report.controller} pass failed {report.errors} time(s); see the log"
            )
        return report

    # --- actions --------------------------------------------------------------------------

    def materialize(
        self,
        assets: Sequence[str],
        *,
        partition_key: str | None = None,
        partition_keys: Sequence[str] | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> str:
        """Request a manual run (it runs at the next :meth:`tick`); returns its run id."""
        keys = [partition_key] if partition_key is not None else partition_keys
        accepted = run_service.request_manual_run(
            self.context, list(assets), None if keys is None else list(keys), tags
        )
        self.compact()
        assert accepted.resource_id is not None
        return accepted.resource_id

    def create_backfill(
        self,
        assets: Sequence[str],
        *,
        partition_range: tuple[str, str] | None = None,
        partition_keys: Sequence[str] | None = None,
        chunk_size: int = 10,
        max_concurrent_runs: int | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> str:
        """Create a backfill (planned at the next :meth:`tick`); returns its id."""
        if (partition_range is None) == (partition_keys is None):
            raise ValueError("give partition_range or partition_keys")
        selector = (
            RangeSelector(start=partition_range[0], end=partition_range[1])
            if partition_range is not None
            else KeysSelector(keys=tuple(partition_keys or ()))
        )
        accepted = backfill_service.create(
            self.context,
            self.definitions.partitions_by_asset(),
            asset_selection=list(assets),
            selector=selector,
            chunk_size=chunk_size,
            max_concurrent_runs=max_concurrent_runs,
            tags=tags,
        )
        self.compact()
        assert accepted.resource_id is not None
        return accepted.resource_id

    def push(
        self,
        sensor_name: str,
        data: object,
        *,
        message_id: str | None = None,
        attributes: Mapping[str, str] | None = None,
    ) -> EvaluationReport:
        """Deliver a message to a push sensor now (``data``: bytes, text, or JSON-able)."""
        if isinstance(data, bytes):
            raw = data
        else:
            raw = (data if isinstance(data, str) else json.dumps(data)).encode()
        self._message_count += 1
        message = PushMessage(
            message_id=message_id or f"test-message-{self._message_count}",
            data=base64.b64encode(raw).decode(),
            attributes=dict(attributes or {}),
            publish_time=self.now.isoformat(),
        )
        report = sensor_service.push_message(
            self.context,
            self.sensor_id(sensor_name),
            message,
            self.definitions.sensors_by_name[sensor_name],
            executor=self._sensor_executor,
        )
        self.compact()
        return report

    # --- reads ----------------------------------------------------------------------------

    def schedule_id(self, name: str) -> str:
        return self.synced.schedule_ids[name]

    def sensor_id(self, name: str) -> str:
        return self.synced.sensor_ids[name]

    def ticks(self, schedule_name: str) -> list[Doc]:
        """The schedule's ticks, oldest scheduled instant first."""
        page = schedule_service.list_ticks(
            self.context, self.schedule_id(schedule_name), limit=1000
        )
        return list(reversed(page.items))

    def evaluations(self, sensor_name: str) -> list[Doc]:
        """The sensor's evaluations, oldest first."""
        page = sensor_service.list_evals(self.context, self.sensor_id(sensor_name), limit=1000)
        return list(reversed(page.items))

    def runs(self, state: str | None = None) -> list[Doc]:
        """Every run, oldest request first."""
        where = {} if state is None else {"state": state}
        return self.instance.reader.all(
            RUNS, self.scope, Query(where=where, order_by="requested_at")
        )

    def run(self, run_id: str) -> Doc:
        return run_service.get_run(self.context, run_id)

    def tasks(self, run_id: str) -> list[Doc]:
        return self.instance.reader.all(
            TASKS, self.scope, Query(where={"run_id": run_id}, order_by="task_index")
        )

    def task(self, run_id: str, task_key: str) -> Doc:
        doc = self.instance.reader.get(TASKS, self.scope, task_pk(run_id, task_key))
        if doc is None:
            raise KeyError(f"run {run_id} has no task {task_key!r}")
        return doc

    def backfill(self, backfill_id: str) -> Doc:
        """The backfill with its progress counters."""
        return backfill_service.get(self.context, backfill_id)

    def backfills(self) -> list[Doc]:
        return list(backfill_service.list_backfills(self.context, limit=1000).items)

    def partition_status(self, asset_key: str) -> dict[str, Doc]:
        """Partition key → the status row of every partition of ``asset_key`` that has one."""
        self.definitions.get_asset(asset_key)
        rows = self.instance.reader.all(
            PARTITION_STATUS, self.scope, Query(where={"asset_key": asset_key})
        )
        return {str(row["partition_key"]): row for row in rows}

    def materialized_partitions(self, asset_key: str) -> list[str]:
        """Keys of ``asset_key`` that have a materialization (``__all__`` if unpartitioned)."""
        return sorted(
            key
            for key, row in self.partition_status(asset_key).items()
            if row.get("last_materialization_at") is not None
        )

    def events(self, kind: type[P]) -> list[P]:
        """Every payload of type ``kind`` in the ledger, in ledger order."""
        return [event.data for event in self._all_events() if isinstance(event.data, kind)]

    def compute_log(
        self, run_id: str, task_key: str, *, attempt: int = 1, stream: LogStream = "stdout"
    ) -> str:
        """The text an attempt wrote (stdout, or stderr with ``context.log`` lines)."""
        return read_compute_log(self.logs_dir, run_id, task_key, attempt, stream).text

    def _all_events(self) -> Iterator[StoredEvent]:
        after = 0
        while True:
            batch = self.instance.ledger.read(after_offset=after, limit=5000)
            if not batch:
                return
            yield from batch
            after = batch[-1].offset
