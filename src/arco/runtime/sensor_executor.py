"""Running user sensor code in threads, each evaluation under its own deadline.

Threads, not processes: sensor functions are often closures over clients and
configuration that cannot be pickled, and a thread starts in microseconds.  The
price is that Python cannot kill a thread, so a sensor that overruns its timeout
is *abandoned*: its outcome is a timeout error, its daemon thread runs on until
the user code returns (whatever it returns is dropped), and the same sensor is
not started again while that thread is alive — each later attempt is answered
with :data:`STILL_RUNNING` at once.  All jobs of a pass start together and each
is waited for only until its own deadline, so a hanging sensor delays no other
beyond its timeout.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from arco.controllers.sensors import Outcome

STILL_RUNNING = "previous evaluation is still running after its timeout"

JobKey = tuple[str, str, str]  # tenant, workspace, sensor id (push: plus the message id)


@dataclass(frozen=True)
class SensorJob:
    """One evaluation to run: who it is for, how long it may take, and the code."""

    key: JobKey
    timeout_seconds: float
    evaluate: Callable[[], Outcome]


class SensorExecutor:
    """Runs sensor evaluations in daemon threads, each under its own deadline.

    Keep one per process: it remembers abandoned (timed-out) evaluations so that
    a hung sensor is not started again until its thread ends.
    """

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._running: dict[JobKey, threading.Thread] = {}

    def busy(self, key: JobKey) -> bool:
        with self._lock:
            thread = self._running.get(key)
            return thread is not None and thread.is_alive()

    def join(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for abandoned evaluations to end (for shutdown)."""
        deadline = self._monotonic() + timeout
        with self._lock:
            threads = list(self._running.values())
        for thread in threads:
            thread.join(max(0.0, deadline - self._monotonic()))
        return not any(thread.is_alive() for thread in threads)

    def run(self, jobs: Sequence[SensorJob]) -> Iterator[tuple[SensorJob, Outcome]]:
        """Start every job at once; yield each outcome as it finishes or times out."""
        done: queue.Queue[tuple[int, Outcome]] = queue.Queue()
        deadlines: dict[int, float] = {}
        for index, job in enumerate(jobs):
            if not self._start(index, job, done):
                yield job, Outcome.failed(STILL_RUNNING)
                continue
            deadlines[index] = self._monotonic() + job.timeout_seconds
        while deadlines:
            wait = max(0.0, min(deadlines.values()) - self._monotonic())
            try:
                index, outcome = done.get(timeout=wait)
            except queue.Empty:
                now = self._monotonic()
                for late in [i for i, deadline in deadlines.items() if deadline <= now]:
                    del deadlines[late]
                    timeout = jobs[late].timeout_seconds
                    yield jobs[late], Outcome.failed(f"TimeoutError: timed out after {timeout:g}s")
                continue
            if deadlines.pop(index, None) is not None:
                yield jobs[index], outcome

    def _start(self, index: int, job: SensorJob, done: queue.Queue[tuple[int, Outcome]]) -> bool:
        with self._lock:
            previous = self._running.get(job.key)
            if previous is not None and previous.is_alive():
                return False
            thread = threading.Thread(
                target=self._target,
                args=(index, job, done),
                name=f"arco-sensor-{job.key[2]}",
                daemon=True,  # an abandoned evaluation must never keep the process alive
            )
            self._running[job.key] = thread
        thread.start()
        return True

    def _target(self, index: int, job: SensorJob, done: queue.Queue[tuple[int, Outcome]]) -> None:
        try:
            try:
                outcome = job.evaluate()
            except Exception as error:  # job code catches user errors; this is a last guard
                outcome = Outcome.failed(describe(error))
            done.put((index, outcome))
        finally:
            with self._lock:
                if self._running.get(job.key) is threading.current_thread():
                    del self._running[job.key]


DEFAULT_EXECUTOR = SensorExecutor()


def describe(error: BaseException) -> str:
    """How a failure of user code reads in an evaluation's ``error``."""
    return f"{type(error).__name__}: {error}"
