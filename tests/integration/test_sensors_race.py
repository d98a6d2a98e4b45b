"""Two daemons (and two API servers) evaluating the same sensors at once.

Each "daemon" has its own engine (its own connections) and its own executor, as
separate processes would; a barrier inside the sensor code makes both evaluate
from the same state before either appends, so every round is a real race that
the cursor CAS (poll) or the message-id key (push) must settle.
"""

from __future__ import annotations

import base64
import json
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import pytest

from arco.clock import ManualClock
from arco.compactor import Compactor
from arco.events import PushMessage, SensorSpec
from arco.fold.rows import Scope
from arco.fold.runs import STALE_EVAL_STATUS
from arco.ledger import SqlLedger, ledger_for
from arco.runtime.env import PassReport, RuntimeEnv
from arco.runtime.sensor_pass import EvaluationReport, SensorExecutor, run_sensor_pass
from arco.sdk.sensor_context import SensorEvaluationContext
from arco.sdk.sensors import RunRequest, SensorDefinition, SensorResult, push_sensor, sensor
from arco.secrets import TenantSecrets
from arco.services import ServiceContext
from arco.services import sensors as service
from arco.storage.database import open_engine
from arco.storage.reader import ProjectionReader
from support.factories import SECRET, T0, TENANT, WORKSPACE
from support.sensors import World

ROUNDS = 6
SCOPE = Scope(TENANT, WORKSPACE)


class Daemon:
    """One daemon's view of the database: own engine, own executor."""

    def __init__(self, db_url: str) -> None:
        self.engine = open_engine(db_url)
        ledger = ledger_for(self.engine)
        reader = ProjectionReader(self.engine)
        secrets = TenantSecrets({TENANT: SECRET})
        clock = ManualClock(T0)
        self.env = RuntimeEnv(ledger, reader, secrets, clock)
        self.ctx = ServiceContext(SCOPE, ledger, reader, secrets, clock)
        self.executor = SensorExecutor()

    def close(self) -> None:
        self.executor.join(timeout=5)
        self.engine.dispose()


@pytest.fixture
def daemons(db_url: str) -> Iterator[tuple[Daemon, Daemon]]:
    pair = (Daemon(db_url), Daemon(db_url))
    yield pair
    for daemon in pair:
        daemon.close()


@pytest.fixture
def world(ledger: SqlLedger, compactor: Compactor) -> World:
    return World(ledger, compactor)


class Race:
    """A barrier both daemons' evaluations meet at, only while racing."""

    def __init__(self) -> None:
        self.barrier = threading.Barrier(2, timeout=20)
        self.on = True

    def meet(self) -> None:
        if self.on:
            self.barrier.wait()


def visible_files(now: datetime) -> int:
    """Files in the bucket at ``now``: the later daemon of a round sees one more."""
    elapsed = int((now - T0).total_seconds())
    return 2 * (elapsed // 60) + elapsed % 60 + 1


def poll_sensors(race_named: Race, race_unnamed: Race) -> dict[str, SensorDefinition]:
    @sensor(name="named")
    def named(context: SensorEvaluationContext) -> SensorResult:
        race_named.meet()
        start, end = int(context.cursor or 0), visible_files(context.now)
        return SensorResult([RunRequest(f"f{n}") for n in range(start, end)], cursor=str(end))

    @sensor(name="unnamed")
    def unnamed(context: SensorEvaluationContext) -> SensorResult:
        race_unnamed.meet()
        start, end = int(context.cursor or 0), visible_files(context.now)
        requests = [RunRequest(partition_key=str(n)) for n in range(start, end)]
        return SensorResult(requests, cursor=str(end))

    return {"named": named, "unnamed": unnamed}


def spec(name: str, kind: str = "poll") -> SensorSpec:
    return SensorSpec(name=name, kind=kind, asset_selection=("raw",))


def test_two_daemons_racing_give_one_run_per_file_and_per_cursor_step(
    world: World, daemons: tuple[Daemon, Daemon]
) -> None:
    named_id = world.create(spec("named"))
    unnamed_id = world.create(spec("unnamed"))
    races = (Race(), Race())
    registry = poll_sensors(*races)
    with ThreadPoolExecutor(max_workers=2) as pool:
        for round_ in range(ROUNDS):
            at = T0 + timedelta(minutes=round_)
            futures = [
                pool.submit(
                    run_sensor_pass, d.env, at + timedelta(seconds=i), registry, executor=d.executor
                )
                for i, d in enumerate(daemons)
            ]
            reports: list[PassReport] = [f.result(timeout=60) for f in futures]
            assert [r.errors for r in reports] == [0, 0]
            assert [r.decisions for r in reports] == [2, 2]
            world.fold()
    for race in races:
        race.on = False
    final = run_sensor_pass(world.env, T0 + timedelta(minutes=ROUNDS), registry)
    assert final.decisions == 2
    world.fold()

    total = 2 * ROUNDS + 1
    runs = list(world.runs().values())
    by_key = Counter(str(run["run_key"]) for run in runs)
    assert {k for k in by_key if k.startswith("f")} == {f"f{n}" for n in range(total)}
    unnamed_partitions = Counter(
        str(run["partition_selection"]["keys"][0])  # type: ignore[index]
        for run in runs
        if not str(run["run_key"]).startswith("f")
    )
    assert unnamed_partitions == Counter(str(n) for n in range(total))  # each exactly once
    for sensor_id in (named_id, unnamed_id):
        statuses = Counter(str(row["status"]) for row in world.evals(sensor_id))
        assert statuses == {"ok": ROUNDS + 1, STALE_EVAL_STATUS: ROUNDS}
        state = world.state(sensor_id)
        assert (state["cursor"], state["state_version"]) == (str(total), ROUNDS + 1)
    assert world.compactor.verify().ok


def test_two_api_servers_receiving_the_same_messages_create_one_run_each(
    world: World, daemons: tuple[Daemon, Daemon]
) -> None:
    race = Race()

    @push_sensor(name="files")
    def files(context: SensorEvaluationContext) -> RunRequest:
        race.meet()
        return RunRequest(partition_key=context.message.json()["day"])

    sensor_id = world.create(spec("files", "push"))
    outcomes: list[EvaluationReport] = []
    with ThreadPoolExecutor(max_workers=2) as pool:
        for n in range(ROUNDS):
            data = base64.b64encode(json.dumps({"day": f"2024-01-0{n + 1}"}).encode()).decode()
            message = PushMessage(message_id=f"m-{n}", data=data)
            futures = [
                pool.submit(
                    service.push_message, d.ctx, sensor_id, message, files, executor=d.executor
                )
                for d in daemons
            ]
            pair = [f.result(timeout=60) for f in futures]
            assert sorted(r.duplicate for r in pair) == [False, True]
            outcomes += pair
    world.fold()
    runs = world.runs()
    assert sorted(runs) == sorted(f"sensor:{sensor_id}:msg:m-{n}" for n in range(ROUNDS))
    assert len(world.evals(sensor_id)) == ROUNDS
    assert all(r.status == "ok" for r in outcomes)
