"""Ways to run an attempt: a process per attempt (workers), a thread (``arco dev``), inline.

The process is the isolation boundary: user code that raises, calls
``os._exit``, segfaults or is killed ends that process, never the worker, and
the worker turns whatever is left (a result file, or an exit status plus the
tail of stderr, where ``faulthandler`` prints the Python stack of a crash) into
a failed attempt.  How the process starts and what it runs is
:mod:`arco.runtime.task_process`.
"""

from __future__ import annotations

import contextlib
import io
import json
import signal
import threading
from dataclasses import asdict
from pathlib import Path
from typing import Protocol

from arco.errors import ArcoError
from arco.events.execution import TaskError
from arco.runtime.attempts import (
    REQUEST_FILE,
    RESULT_FILE,
    AttemptResult,
    TaskInvocation,
    cancelled,
    run_asset,
)
from arco.runtime.compute_logs import attempt_dir
from arco.runtime.task_process import TaskProcess, start_task_process
from arco.sdk.definitions import CodeLocation, Definitions

STDERR_TAIL_CHARS = 20_000

__all__ = [
    "AttemptResult",
    "Execution",
    "InlineExecution",
    "SubprocessExecution",
    "TaskInvocation",
    "ThreadExecution",
    "run_asset",
]


class Execution(Protocol):
    """One attempt in flight."""

    def poll(self) -> AttemptResult | None:
        """The result once the attempt has ended, else None."""
        ...

    def kill(self, reason: str) -> AttemptResult:
        """Stop the attempt now; its result (cancelled unless it had already finished)."""
        ...


class SubprocessExecution:
    """The attempt in its own process group, so a kill also reaches anything it spawned."""

    def __init__(self, process: TaskProcess | None, directory: Path) -> None:
        self.process = process
        self.directory = directory
        self._result: AttemptResult | None = None
        self.returncode: int | None = None

    @classmethod
    def start(
        cls, definitions: Definitions, invocation: TaskInvocation, logs_dir: Path
    ) -> SubprocessExecution:
        directory = _prepare(logs_dir, invocation)
        location = definitions.location
        if location is None:
            raise ArcoError(
                "a subprocess can only run definitions loaded with load_definitions"
                " (or use the in-process executor)",
                field="definitions",
            )
        if invocation.asset_key not in definitions.assets_by_key:
            execution = cls(None, directory)
            execution._result = run_asset(definitions, invocation, io.StringIO())
            return execution
        request = {"location": _location_json(location), "invocation": asdict(invocation)}
        (directory / REQUEST_FILE).write_text(json.dumps(request))
        return cls(start_task_process(directory, location), directory)

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    def poll(self) -> AttemptResult | None:
        if self._result is None and self.process is not None:
            returncode = self.process.poll()
            if returncode is not None:
                self.returncode = returncode
                self._result = self._read_result(returncode)
        return self._result

    def kill(self, reason: str) -> AttemptResult:
        if self.poll() is not None:
            assert self._result is not None
            return self._result
        assert self.process is not None
        self.process.kill()
        self.returncode = self.process.poll()
        finished = self._result_file()
        self._result = finished if finished is not None else cancelled(reason)
        return self._result

    def _result_file(self) -> AttemptResult | None:
        path = self.directory / RESULT_FILE
        return AttemptResult.from_json(path.read_text()) if path.exists() else None

    def _read_result(self, returncode: int) -> AttemptResult:
        reported = self._result_file()
        if reported is not None:
            return reported
        if returncode < 0:
            name = signal.Signals(-returncode).name
            how = f"was killed by signal {name}"
        else:
            how = f"exited with exit code {returncode}"
        stderr = self.directory / "stderr.log"
        tail = stderr.read_text(errors="replace")[-STDERR_TAIL_CHARS:] if stderr.exists() else ""
        return AttemptResult(
            "failed",
            error=TaskError(
                kind="ProcessExited",
                message=f"the asset process {how} before reporting a result",
                traceback=tail or None,
            ),
        )


class ThreadExecution:
    """The attempt in a thread of this process (``arco dev``): no isolation, no hard kill.

    ``context.log`` goes to the compute log; ``print`` goes to this process's stdout.
    A cancelled attempt is reported at once and its thread's result is discarded.
    """

    def __init__(self, thread: threading.Thread) -> None:
        self.thread = thread
        self._result: AttemptResult | None = None
        self._cancelled: AttemptResult | None = None

    @classmethod
    def start(
        cls, definitions: Definitions, invocation: TaskInvocation, logs_dir: Path
    ) -> ThreadExecution:
        directory = _prepare(logs_dir, invocation)

        def target() -> None:
            with (directory / "stderr.log").open("a") as stream:
                execution._result = run_asset(definitions, invocation, stream)

        thread = threading.Thread(target=target, name=f"arco-task-{invocation.task_key}")
        execution = cls(thread)
        thread.daemon = True
        thread.start()
        return execution

    def poll(self) -> AttemptResult | None:
        return self._cancelled or (None if self.thread.is_alive() else self._result)

    def kill(self, reason: str) -> AttemptResult:
        finished = self.poll()
        if finished is None:
            self._cancelled = cancelled(reason)
            finished = self._cancelled
        return finished


class InlineExecution:
    """The attempt run to completion inside ``start`` (``arco.testing``).

    It runs in the caller's thread, so ``print`` can be captured into the compute log
    (``sys.stdout``/``sys.stderr`` are swapped for the duration, as pytest's capsys does).
    """

    def __init__(self, result: AttemptResult) -> None:
        self.result = result

    @classmethod
    def start(
        cls, definitions: Definitions, invocation: TaskInvocation, logs_dir: Path
    ) -> InlineExecution:
        directory = _prepare(logs_dir, invocation)
        with (
            (directory / "stdout.log").open("a") as stdout,
            (directory / "stderr.log").open("a") as stderr,
            contextlib.redirect_stdout(stdout),
            contextlib.redirect_stderr(stderr),
        ):
            return cls(run_asset(definitions, invocation, stderr))

    def poll(self) -> AttemptResult | None:
        return self.result

    def kill(self, reason: str) -> AttemptResult:
        return self.result


def _prepare(logs_dir: Path, invocation: TaskInvocation) -> Path:
    directory = attempt_dir(logs_dir, invocation.run_id, invocation.task_key, invocation.attempt)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "stdout.log").touch()
    (directory / RESULT_FILE).unlink(missing_ok=True)
    return directory


def _location_json(location: CodeLocation) -> dict[str, str | None]:
    return {
        "module": location.module,
        "file": None if location.file is None else str(location.file),
        "attribute": location.attribute,
        "working_directory": (
            None if location.working_directory is None else str(location.working_directory)
        ),
    }
