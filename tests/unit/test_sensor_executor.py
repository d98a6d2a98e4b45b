"""The sensor executor: user code in threads, each under its own (real, short) timeout."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from arco.controllers.sensors import Outcome, Request
from arco.runtime.sensor_executor import STILL_RUNNING, SensorExecutor, SensorJob

HANG_TIMEOUT = 0.3


@pytest.fixture
def release() -> Iterator[threading.Event]:
    """Set at teardown so that every 'hanging' sensor thread ends with the test."""
    event = threading.Event()
    yield event
    event.set()


def job(
    name: str, outcome: Outcome, *, wait: threading.Event | None = None, timeout: float = 5.0
) -> SensorJob:
    def evaluate() -> Outcome:
        if wait is not None:
            wait.wait(30)
        return outcome

    return SensorJob(("t", "w", name), timeout, evaluate)


def test_a_hanging_sensor_times_out_without_delaying_the_others(release: threading.Event) -> None:
    executor = SensorExecutor()
    fast = Outcome(requests=(Request("k"),))
    started = time.monotonic()
    results = list(
        executor.run(
            [
                job("hangs", fast, wait=release, timeout=HANG_TIMEOUT),
                job("fast", fast),
            ]
        )
    )
    elapsed = time.monotonic() - started
    assert [(j.key[2], o) for j, o in results] == [
        ("fast", fast),
        ("hangs", Outcome.failed(f"TimeoutError: timed out after {HANG_TIMEOUT:g}s")),
    ]
    assert HANG_TIMEOUT <= elapsed < HANG_TIMEOUT + 2


def test_an_abandoned_sensor_is_not_started_again_while_its_thread_runs(
    release: threading.Event,
) -> None:
    executor = SensorExecutor()
    calls: list[str] = []

    def hangs() -> Outcome:
        calls.append("hangs")
        release.wait(30)
        return Outcome()

    hanging = SensorJob(("t", "w", "s"), HANG_TIMEOUT, hangs)
    list(executor.run([hanging]))
    assert executor.busy(("t", "w", "s"))
    ((_, outcome),) = list(executor.run([hanging]))
    assert outcome == Outcome.failed(STILL_RUNNING)
    assert calls == ["hangs"]
    release.set()
    assert executor.join(timeout=5)  # the abandoned thread ends once released
    assert not executor.busy(("t", "w", "s"))
    ((_, outcome),) = list(executor.run([SensorJob(("t", "w", "s"), 1, lambda: Outcome())]))
    assert outcome == Outcome()


def test_a_job_that_raises_is_an_error_outcome() -> None:
    def broken() -> Outcome:
        raise RuntimeError("bug")

    ((_, outcome),) = list(SensorExecutor().run([SensorJob(("t", "w", "b"), 1, broken)]))
    assert outcome == Outcome.failed("RuntimeError: bug")
