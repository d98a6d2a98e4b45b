"""The poll sensor pass on every backend, with the compactor folding what it appends."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from prometheus_client import REGISTRY

from arco.compactor import Compactor
from arco.events import SensorSpec
from arco.fold.runs import STALE_EVAL_STATUS
from arco.ledger import SqlLedger
from arco.runtime.sensor_pass import SensorExecutor, run_sensor_pass, sensor_pass
from arco.sdk.sensor_context import SensorEvaluationContext
from arco.sdk.sensors import RunRequest, SensorDefinition, SensorResult, SkipReason, sensor
from arco.secrets import TenantSecrets
from arco.services import sensors as service
from support.factories import SECRET, T0
from support.sensors import OTHER_TENANT, World

HANG_TIMEOUT = 0.3


@pytest.fixture
def world(ledger: SqlLedger, compactor: Compactor) -> World:
    return World(ledger, compactor)


@pytest.fixture
def executor() -> Iterator[SensorExecutor]:
    executor = SensorExecutor()
    yield executor
    executor.join(timeout=5)


@pytest.fixture
def release() -> Iterator[threading.Event]:
    event = threading.Event()
    yield event
    event.set()


def spec(name: str, interval: int = 30, timeout: float = 5.0) -> SensorSpec:
    return SensorSpec(
        name=name,
        kind="poll",
        asset_selection=("raw",),
        minimum_interval_seconds=interval,
        timeout_seconds=timeout,
    )


def counter(name: str = "counter", per_step: int = 1) -> SensorDefinition:
    """Asks for ``per_step`` runs named after the cursor, then moves the cursor on."""

    @sensor(name=name)
    def count(context: SensorEvaluationContext) -> SensorResult:
        start = int(context.cursor or 0)
        keys = [f"{name}-{n}" for n in range(start, start + per_step)]
        return SensorResult([RunRequest(k) for k in keys], cursor=str(start + per_step))

    return count


def evals_counted(kind: str, status: str) -> float:
    value = REGISTRY.get_sample_value(
        "arco_sensor_evaluations_total", {"kind": kind, "status": status}
    )
    return value or 0.0


def test_a_due_sensor_is_evaluated_from_its_cursor_and_respects_its_interval(
    world: World, executor: SensorExecutor
) -> None:
    sensor_id = world.create(spec("counter"))
    registry = {"counter": counter(per_step=2)}
    before = evals_counted("poll", "ok")
    report = run_sensor_pass(world.env, T0, registry, executor=executor)
    assert (report.controller, report.decisions, report.appended, report.errors) == (
        "sensors",
        1,
        3,
        0,
    )
    assert report.next_due == T0 + timedelta(seconds=30)
    assert evals_counted("poll", "ok") == before + 1
    world.fold()
    assert sorted(world.runs()) == ["counter-0", "counter-1"]
    state = world.state(sensor_id)
    assert (state["cursor"], state["state_version"]) == ("2", 1)
    # Not due again before the interval has passed.
    early = run_sensor_pass(world.env, T0 + timedelta(seconds=29), registry, executor=executor)
    assert early.decisions == 0
    assert early.next_due == T0 + timedelta(seconds=30)
    run_sensor_pass(world.env, T0 + timedelta(seconds=30), registry, executor=executor)
    world.fold()
    assert sorted(world.runs()) == [f"counter-{n}" for n in range(4)]
    assert world.state(sensor_id)["cursor"] == "4"
    assert world.compactor.verify().ok


def test_l2_inv_3_the_same_pass_twice_appends_and_runs_nothing_new(
    world: World, executor: SensorExecutor
) -> None:
    world.create(spec("counter"))
    registry = {"counter": counter()}
    run_sensor_pass(world.env, T0, registry, executor=executor)
    again = run_sensor_pass(world.env, T0, registry, executor=executor)  # projection not folded
    assert (again.appended, again.duplicates) == (0, 2)
    world.fold()
    assert list(world.runs()) == ["counter-0"]


def test_l2_inv_12_two_passes_from_one_state_give_one_cursor_step(
    world: World, executor: SensorExecutor
) -> None:
    sensor_id = world.create(spec("counter"))

    @sensor(name="counter")
    def sees_more_later(context: SensorEvaluationContext) -> SensorResult:
        # The later evaluation sees one more file than the earlier one.
        files = int(context.now.timestamp()) - int(T0.timestamp()) + 1
        return SensorResult([RunRequest(f"f{n}") for n in range(files)], cursor=str(files))

    registry = {"counter": sees_more_later}
    run_sensor_pass(world.env, T0, registry, executor=executor)
    run_sensor_pass(world.env, T0 + timedelta(seconds=1), registry, executor=executor)
    world.fold()
    rows = world.evals(sensor_id)
    assert [row["status"] for row in rows] == ["ok", STALE_EVAL_STATUS]
    assert list(world.runs()) == ["f0"]
    assert world.state(sensor_id)["cursor"] == "1"
    # The next evaluation, from the accepted cursor, picks up f1: the run that the stale
    # evaluation asked for first is not lost to the ledger's dedup of its RunRequested.
    run_sensor_pass(world.env, T0 + timedelta(seconds=31), registry, executor=executor)
    world.fold()
    assert set(world.runs()) == {f"f{n}" for n in range(32)}


def test_a_failing_sensor_keeps_its_cursor_and_does_not_stop_the_others(
    world: World, executor: SensorExecutor
) -> None:
    broken_id = world.create(spec("broken"))
    world.create(spec("counter"))

    @sensor(name="broken")
    def broken(context: SensorEvaluationContext) -> SensorResult:
        raise ConnectionError("bucket unreachable")

    registry = {"broken": broken, "counter": counter()}
    service.reset_cursor(world.ctx, broken_id, "c7")
    world.fold()
    report = run_sensor_pass(world.env, T0, registry, executor=executor)
    assert (report.decisions, report.errors) == (2, 0)
    world.fold()
    (row,) = world.evals(broken_id)
    assert (row["status"], row["error"]) == ("error", "ConnectionError: bucket unreachable")
    state = world.state(broken_id)
    assert (state["cursor"], state["state_version"], state["last_eval_status"]) == (
        "c7",
        1,
        "error",
    )
    assert list(world.runs()) == ["counter-0"]


def test_a_hanging_sensor_times_out_and_the_others_still_run(
    world: World, executor: SensorExecutor, release: threading.Event
) -> None:
    hung_id = world.create(spec("hangs", timeout=HANG_TIMEOUT))
    world.create(spec("counter"))

    @sensor(name="hangs")
    def hangs(context: SensorEvaluationContext) -> None:
        release.wait(30)

    registry = {"hangs": hangs, "counter": counter()}
    started = time.monotonic()
    report = run_sensor_pass(world.env, T0, registry, executor=executor)
    assert time.monotonic() - started < HANG_TIMEOUT + 2
    assert report.decisions == 2
    world.fold()
    # Next interval: the abandoned evaluation still runs, so it is not started again.
    run_sensor_pass(world.env, T0 + timedelta(seconds=30), registry, executor=executor)
    world.fold()
    errors = [row["error"] for row in world.evals(hung_id)]
    assert errors == [
        f"TimeoutError: timed out after {HANG_TIMEOUT:g}s",
        "previous evaluation is still running after its timeout",
    ]
    assert world.state(hung_id)["cursor"] is None
    assert sorted(world.runs()) == ["counter-0", "counter-1"]


def test_paused_and_codeless_sensors_are_not_evaluated(
    world: World, executor: SensorExecutor
) -> None:
    paused_id = world.create(spec("paused"), enabled=False)
    codeless_id = world.create(spec("codeless"))
    registry = {"paused": counter("paused")}
    report = run_sensor_pass(world.env, T0, registry, executor=executor)
    assert report.decisions == 0
    assert report.next_due == T0 + timedelta(seconds=30)  # the codeless one, next interval
    world.fold()
    assert world.evals(paused_id) == []
    assert world.evals(codeless_id) == []


def test_a_tenant_without_a_secret_is_isolated_from_the_others(
    world: World, executor: SensorExecutor
) -> None:
    world.create(spec("counter"))
    other = world.scoped(OTHER_TENANT)
    service.create(other, spec("counter"))
    world.fold()
    world.env.secrets = TenantSecrets({"acme": SECRET})  # globex lost its secret
    before = REGISTRY.get_sample_value("arco_controller_errors_total", {"controller": "sensors"})
    report = run_sensor_pass(world.env, T0, {"counter": counter()}, executor=executor)
    after = REGISTRY.get_sample_value("arco_controller_errors_total", {"controller": "sensors"})
    assert (report.decisions, report.errors) == (1, 1)
    assert (after or 0) - (before or 0) == 1
    world.fold()
    assert list(world.runs()) == ["counter-0"]
    assert world.runs(OTHER_TENANT) == {}


def test_skip_reasons_are_recorded_and_the_daemon_shape_is_supported(
    world: World, executor: SensorExecutor
) -> None:
    sensor_id = world.create(spec("quiet"))

    @sensor(name="quiet")
    def quiet() -> SkipReason:
        return SkipReason("no new files")

    report = sensor_pass({"quiet": quiet}, executor)(world.env, T0)
    assert report.decisions == 1
    world.fold()
    (row,) = world.evals(sensor_id)
    assert (row["status"], row["skip_reason"]) == ("skipped", "no new files")
    assert world.state(sensor_id)["state_version"] == 1
