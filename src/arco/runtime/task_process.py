"""The process one attempt runs in: how it is started, and what it does.

Each attempt gets a fresh process in its own session (process group), whose
stdout and stderr are the attempt's compute log.  It loads the project from its
:class:`~arco.sdk.definitions.CodeLocation`, runs the asset and writes
``result.json``; anything else (an exit code, a signal, the tail of stderr) is
what the worker reports when that file is missing.

Starting a Python interpreter and importing Arco costs ~0.25 s of CPU, more
than a small asset takes, so on POSIX attempts are forked from a *fork server*:
one single-threaded ``python -m arco.runtime.task_process serve`` per worker
that has imported Arco once, and forks in a few milliseconds.  The server never
imports user code: every attempt imports the project itself, so it runs the code
on disk, as a fresh interpreter would, with the worker's environment as it is
when the attempt starts.  (``multiprocessing``'s forkserver is not used: its
children re-import the parent's ``__main__`` — for ``arco worker``, the CLI —
and keep the server alive after the worker dies.)  ``ARCO_TASK_START=spawn``
starts a fresh interpreter per attempt instead.

Protocol (one JSON object per line): the worker writes
``{"directory", "environ", "cwd"}``; the server answers ``{"started": pid}``
for each request in order, and ``{"exited": pid, "status": code}`` when an
attempt ends (``status`` negative: killed by that signal).

On Linux the server dies with its worker and every attempt with its server
(``PR_SET_PDEATHSIG``), so a worker killed with SIGKILL leaves no attempt running
next to the one that replaces it.
"""

from __future__ import annotations

import contextlib
import ctypes
import faulthandler
import io
import json
import os
import select
import signal
import subprocess
import sys
import threading
import traceback
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import IO, Protocol

from arco.errors import ArcoError
from arco.events.execution import TaskError
from arco.runtime.attempts import REQUEST_FILE, RESULT_FILE, AttemptResult, run_asset
from arco.sdk.definitions import CodeLocation

START_ENV = "ARCO_TASK_START"
PR_SET_PDEATHSIG = 1
START_TIMEOUT = 30.0
LOST = -int(signal.SIGKILL)  # the status of attempts whose server died under them


class TaskProcess(Protocol):
    """A started attempt process."""

    @property
    def pid(self) -> int: ...

    def poll(self) -> int | None:
        """The exit status once it has ended (negative: killed by that signal)."""
        ...

    def kill(self) -> None:
        """SIGKILL the whole process group and wait for it to end."""
        ...


def start_task_process(directory: Path, location: CodeLocation) -> TaskProcess:
    """Start the process that runs the attempt whose request is in ``directory``."""
    if os.environ.get(START_ENV) == "spawn" or not hasattr(os, "fork"):
        return _Spawned.start(directory, location)
    return ForkServer.shared().start(directory, location)


# --- a fresh interpreter per attempt ------------------------------------------------------


class _Spawned:
    """``python -m arco.runtime.task_process run DIRECTORY``."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.process = process

    @classmethod
    def start(cls, directory: Path, location: CodeLocation) -> _Spawned:
        with (
            (directory / "stdout.log").open("ab") as stdout,
            (directory / "stderr.log").open("ab") as stderr,
        ):
            process = subprocess.Popen(
                [sys.executable, "-m", "arco.runtime.task_process", "run", str(directory)],
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=stderr,
                cwd=location.working_directory,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
                start_new_session=True,
            )
        return cls(process)

    @property
    def pid(self) -> int:
        return self.process.pid

    def poll(self) -> int | None:
        return self.process.poll()

    def kill(self) -> None:
        _kill_group(self.process.pid, lambda: self.process.kill())
        self.process.wait()


# --- the fork server, as the worker sees it --------------------------------------------------


class ForkServer:
    """The worker's handle on its fork server; restarted if it ever dies."""

    _shared: ForkServer | None = None
    _shared_lock = threading.Lock()

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._exited = threading.Condition()
        self._server: subprocess.Popen[bytes] | None = None
        self._pending: deque[Future[int]] = deque()
        self._statuses: dict[int, int] = {}
        self._live: set[int] = set()

    @classmethod
    def shared(cls) -> ForkServer:
        with cls._shared_lock:
            if cls._shared is None:
                cls._shared = cls()
            return cls._shared

    def start(self, directory: Path, location: CodeLocation) -> _Forked:
        cwd = None if location.working_directory is None else str(location.working_directory)
        request = {"directory": str(directory), "environ": dict(os.environ), "cwd": cwd}
        started: Future[int] = Future()
        with self._lock:
            server = self._running()
            assert server.stdin is not None
            self._pending.append(started)
            server.stdin.write(json.dumps(request).encode() + b"\n")
            server.stdin.flush()
        return _Forked(self, started.result(timeout=START_TIMEOUT))

    def status(self, pid: int) -> int | None:
        with self._exited:
            return self._statuses.get(pid)

    def wait(self, pid: int, timeout: float) -> int | None:
        with self._exited:
            self._exited.wait_for(lambda: pid in self._statuses, timeout)
            return self._statuses.get(pid)

    def forget(self, pid: int) -> None:
        with self._exited:
            self._statuses.pop(pid, None)

    def _running(self) -> subprocess.Popen[bytes]:
        if self._server is None or self._server.poll() is not None:
            self._server = subprocess.Popen(
                [sys.executable, "-m", "arco.runtime.task_process", "serve"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
            reader = threading.Thread(
                target=self._read, args=(self._server,), name="arco-fork-server", daemon=True
            )
            reader.start()
        return self._server

    def _read(self, server: subprocess.Popen[bytes]) -> None:
        assert server.stdout is not None
        for line in server.stdout:
            message = json.loads(line)
            if "started" in message:
                pid = int(message["started"])
                with self._exited:
                    self._live.add(pid)
                self._pending.popleft().set_result(pid)
            else:
                with self._exited:
                    pid = int(message["exited"])
                    self._live.discard(pid)
                    self._statuses[pid] = int(message["status"])
                    self._exited.notify_all()
        # The server is gone, and with it (PDEATHSIG) every attempt it had forked.
        server.wait()
        with self._exited:
            for pid in self._live:
                self._statuses[pid] = LOST
            self._live.clear()
            self._exited.notify_all()
        while self._pending:
            self._pending.popleft().set_exception(OSError("the fork server exited"))


class _Forked:
    def __init__(self, server: ForkServer, pid: int) -> None:
        self.server = server
        self._pid = pid
        self._status: int | None = None

    @property
    def pid(self) -> int:
        return self._pid

    def poll(self) -> int | None:
        if self._status is None:
            self._status = self.server.status(self._pid)
            if self._status is not None:
                self.server.forget(self._pid)
        return self._status

    def kill(self) -> None:
        _kill_group(self._pid, lambda: os.kill(self._pid, signal.SIGKILL))
        self._status = self.server.wait(self._pid, timeout=START_TIMEOUT)
        self.server.forget(self._pid)


def _kill_group(pid: int, kill_one: Callable[[], None]) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        # Not (yet) a group leader, or gone: kill the process itself.
        with contextlib.suppress(ProcessLookupError):
            kill_one()


# --- the fork server itself ------------------------------------------------------------------


def serve() -> None:
    """Fork one attempt per request line on stdin; report starts and exits on stdout."""
    _die_with_parent()
    requests = sys.stdin.buffer
    replies = sys.stdout.buffer
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # only to wake select()
    buffered = b""
    while True:
        readable, _, _ = select.select([requests.fileno(), wake_r], [], [])
        if wake_r in readable:
            with contextlib.suppress(BlockingIOError):
                os.read(wake_r, 4096)
            _reap(replies)
        if requests.fileno() in readable:
            chunk = os.read(requests.fileno(), 65536)
            if not chunk:
                return  # the worker is gone; PDEATHSIG takes the attempts with us
            buffered += chunk
            while b"\n" in buffered:
                line, buffered = buffered.split(b"\n", 1)
                pid = _fork_attempt(json.loads(line), (requests.fileno(), wake_r, wake_w))
                _reply(replies, {"started": pid})
        _reap(replies)


def _reap(replies: IO[bytes]) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        _reply(replies, {"exited": pid, "status": os.waitstatus_to_exitcode(status)})


def _reply(replies: IO[bytes], message: dict[str, int]) -> None:
    replies.write(json.dumps(message).encode() + b"\n")
    replies.flush()


def _fork_attempt(request: dict[str, object], server_fds: tuple[int, ...]) -> int:
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        for fd in server_fds:
            os.close(fd)
        code = _attempt_main(request)
    finally:
        os._exit(code)


def _attempt_main(request: dict[str, object]) -> int:
    """The forked attempt: its own session, the worker's environment, the log as stdio."""
    os.setsid()
    _die_with_parent()
    environ = request["environ"]
    assert isinstance(environ, dict)
    os.environ.clear()
    os.environ.update(environ)
    if isinstance(request["cwd"], str):
        os.chdir(request["cwd"])
    directory = Path(str(request["directory"]))
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    for fd, name in ((1, "stdout.log"), (2, "stderr.log")):
        log = os.open(directory / name, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        os.dup2(log, fd)
        os.close(log)
    # Unbuffered like PYTHONUNBUFFERED: a crash loses nothing already printed.
    sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), write_through=True)
    sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), write_through=True)
    return run_attempt(directory)


def _die_with_parent() -> None:
    """Linux: be SIGKILLed when the parent (the worker, or the fork server) dies."""
    if sys.platform == "linux":
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


# --- what an attempt process runs --------------------------------------------------------------


def run_attempt(directory: Path) -> int:
    """Load the project, run one asset, write the result atomically; the exit status."""
    from arco.runtime.attempts import TaskInvocation
    from arco.sdk.loading import load_location

    faulthandler.enable()  # a segfault prints the Python stack to stderr (the compute log)
    request = json.loads((directory / REQUEST_FILE).read_text())
    where = request["location"]
    invocation = TaskInvocation(**request["invocation"])
    try:
        definitions = load_location(
            CodeLocation(
                module=where["module"],
                file=None if where["file"] is None else Path(where["file"]),
                attribute=where["attribute"],
                working_directory=(
                    None if where["working_directory"] is None else Path(where["working_directory"])
                ),
            )
        )
        result = run_asset(definitions, invocation, sys.stderr)
    except ArcoError as error:
        result = AttemptResult(
            "failed",
            error=TaskError(
                kind=type(error).__name__,
                message=error.message,
                traceback=str(error.details.get("traceback") or traceback.format_exc()),
            ),
        )
    sys.stdout.flush()
    sys.stderr.flush()
    partial = directory / (RESULT_FILE + ".tmp")
    partial.write_text(result.to_json())
    os.replace(partial, directory / RESULT_FILE)
    return 0


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve()
    else:
        _die_with_parent()
        sys.exit(run_attempt(Path(sys.argv[2])))
