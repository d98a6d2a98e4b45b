"""The executor: one asset attempt in a subprocess (or a thread), its result and its logs.

User code that raises, calls ``os._exit`` or segfaults must come back as a failed
attempt with something to debug, never take the worker down.
"""

from __future__ import annotations

import signal
import textwrap
import time
from pathlib import Path

import pytest

from arco.errors import NotFoundError
from arco.runtime.compute_logs import attempt_dir, read_compute_log
from arco.runtime.executor import (
    AttemptResult,
    Execution,
    InlineExecution,
    SubprocessExecution,
    TaskInvocation,
    ThreadExecution,
)
from arco.runtime.task_process import START_ENV
from arco.sdk import Definitions
from arco.sdk.loading import load_definitions

PROJECT = """
import os, sys, time, ctypes
from arco import AssetExecutionContext, Definitions, MaterializeResult, StaticPartitionsDefinition, asset

PARTS = StaticPartitionsDefinition(["a", "b"])

@asset(partitions_def=PARTS, code_version="v7")
def ok(context: AssetExecutionContext) -> MaterializeResult:
    print("hello from", context.partition_key)
    context.log.info("logged for run %s attempt %s", context.run_id, context.attempt)
    return MaterializeResult(metadata={"rows": 3, "partition": context.partition_key})

@asset
def raises() -> None:
    print("about to fail")
    raise ValueError("bad input row 17")

@asset
def exits() -> None:
    sys.stderr.write("going away\\n")
    sys.stderr.flush()
    os._exit(3)

@asset
def segfaults() -> None:
    ctypes.string_at(0)

@asset
def sleeps() -> None:
    print("sleeping", flush=True)
    time.sleep(60)

@asset
def naps() -> None:
    time.sleep(5)

@asset
def env_echo() -> None:
    print(os.environ.get("ARCO_TEST_MARKER"))

@asset
def session() -> None:
    print(os.getpid(), os.getsid(0))

defs = Definitions(assets=[ok, raises, exits, segfaults, sleeps, naps, env_echo, session])
"""


@pytest.fixture(autouse=True, params=["fork", "spawn"])
def start_method(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test runs with the fork server and with a fresh interpreter per attempt."""
    monkeypatch.setenv(START_ENV, str(request.param))
    return str(request.param)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Definitions:
    path = tmp_path_factory.mktemp("project") / "definitions.py"
    path.write_text(textwrap.dedent(PROJECT))
    return load_definitions(file=path)


def invocation(asset: str, partition: str | None = None, attempt: int = 1) -> TaskInvocation:
    task_key = asset if partition is None else f"{asset}[{partition}]"
    return TaskInvocation(
        run_id="run_test",
        task_key=task_key,
        asset_key=asset,
        partition_key=partition,
        attempt=attempt,
        attempt_id=f"att-{task_key}-{attempt}",
    )


def wait(execution: Execution, timeout: float = 60) -> AttemptResult:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = execution.poll()
        if result is not None:
            return result
        time.sleep(0.02)
    raise AssertionError("execution did not finish")


def subprocess_run(project: Definitions, logs: Path, task: TaskInvocation) -> AttemptResult:
    return wait(SubprocessExecution.start(project, task, logs))


def test_a_successful_attempt_returns_metadata_and_keeps_its_logs(
    project: Definitions, tmp_path: Path
) -> None:
    result = subprocess_run(project, tmp_path, invocation("ok", "b"))
    assert result.outcome == "succeeded"
    assert result.metadata == {"rows": 3, "partition": "b"}
    assert result.code_version == "v7"
    assert result.error is None
    stdout = read_compute_log(tmp_path, "run_test", "ok[b]", 1, "stdout")
    assert stdout.text == "hello from b\n"
    stderr = read_compute_log(tmp_path, "run_test", "ok[b]", 1, "stderr")
    assert "INFO arco.asset.ok - logged for run run_test attempt 1" in stderr.text


def test_an_exception_is_a_failed_attempt_with_its_traceback(
    project: Definitions, tmp_path: Path
) -> None:
    result = subprocess_run(project, tmp_path, invocation("raises"))
    assert result.outcome == "failed"
    assert result.error is not None
    assert result.error.kind == "ValueError"
    assert result.error.message == "bad input row 17"
    assert result.error.traceback is not None
    assert 'raise ValueError("bad input row 17")' in result.error.traceback
    assert read_compute_log(tmp_path, "run_test", "raises", 1).text == "about to fail\n"


def test_os_exit_is_a_failed_attempt_with_the_exit_code_and_stderr(
    project: Definitions, tmp_path: Path
) -> None:
    result = subprocess_run(project, tmp_path, invocation("exits"))
    assert result.outcome == "failed"
    assert result.error is not None
    assert result.error.kind == "ProcessExited"
    assert "exit code 3" in result.error.message
    assert result.error.traceback is not None
    assert "going away" in result.error.traceback


def test_a_segfault_is_a_failed_attempt_with_the_python_stack(
    project: Definitions, tmp_path: Path
) -> None:
    result = subprocess_run(project, tmp_path, invocation("segfaults"))
    assert result.outcome == "failed"
    assert result.error is not None
    assert result.error.kind == "ProcessExited"
    assert "SIGSEGV" in result.error.message
    assert result.error.traceback is not None
    assert "Fatal Python error: Segmentation fault" in result.error.traceback
    assert "segfaults" in result.error.traceback


def test_kill_stops_the_process_and_reports_cancelled(project: Definitions, tmp_path: Path) -> None:
    execution = SubprocessExecution.start(project, invocation("sleeps"), tmp_path)
    deadline = time.monotonic() + 30
    log = attempt_dir(tmp_path, "run_test", "sleeps", 1) / "stdout.log"
    while "sleeping" not in (log.read_text() if log.exists() else ""):
        assert time.monotonic() < deadline, "the asset never started"
        time.sleep(0.02)
    started = time.monotonic()
    result = execution.kill("run cancelled by tester")
    assert time.monotonic() - started < 5
    assert result.outcome == "cancelled"
    assert result.error is not None
    assert result.error.message == "run cancelled by tester"
    assert execution.returncode == -signal.SIGKILL


def test_an_unknown_asset_fails_the_attempt_without_a_process(
    project: Definitions, tmp_path: Path
) -> None:
    result = subprocess_run(project, tmp_path, invocation("not_in_this_project"))
    assert result.outcome == "failed"
    assert result.error is not None
    assert result.error.kind == "NotFoundError"


def test_in_process_executions_run_the_same_code(project: Definitions, tmp_path: Path) -> None:
    threaded = wait(ThreadExecution.start(project, invocation("ok", "a"), tmp_path))
    inline = wait(InlineExecution.start(project, invocation("ok", "a", attempt=2), tmp_path))
    for result in (threaded, inline):
        assert result.outcome == "succeeded"
        assert result.metadata == {"rows": 3, "partition": "a"}
    failed = wait(InlineExecution.start(project, invocation("raises"), tmp_path))
    assert failed.error is not None
    assert failed.error.kind == "ValueError"
    stderr = read_compute_log(tmp_path, "run_test", "ok[a]", 2, "stderr").text
    assert "logged for run run_test attempt 2" in stderr


def test_reading_logs_of_an_unknown_attempt_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError) as caught:
        read_compute_log(tmp_path, "run_x", "t", 1)
    assert caught.value.field == "attempt"


def test_log_paths_cannot_escape_the_logs_directory(tmp_path: Path) -> None:
    inside = attempt_dir(tmp_path, "run_x", "../../etc", 1)
    assert tmp_path in inside.parents
    with pytest.raises(NotFoundError):
        read_compute_log(tmp_path, "../run", "t", 1)


def test_log_reads_page_by_byte_offset(project: Definitions, tmp_path: Path) -> None:
    subprocess_run(project, tmp_path, invocation("ok", "a"))
    first = read_compute_log(tmp_path, "run_test", "ok[a]", 1, "stdout", max_bytes=5)
    assert first.text == "hello"
    rest = read_compute_log(tmp_path, "run_test", "ok[a]", 1, "stdout", offset=first.next_offset)
    assert rest.text == " from a\n"
    assert rest.next_offset == rest.size


def test_the_attempt_sees_the_environment_of_the_moment_it_starts(
    project: Definitions, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fork server started earlier must not hand attempts a stale environment."""
    monkeypatch.setenv("ARCO_TEST_MARKER", "first")
    subprocess_run(project, tmp_path / "a", invocation("env_echo"))
    monkeypatch.setenv("ARCO_TEST_MARKER", "second")
    subprocess_run(project, tmp_path / "b", invocation("env_echo"))
    assert read_compute_log(tmp_path / "a", "run_test", "env_echo", 1).text == "first\n"
    assert read_compute_log(tmp_path / "b", "run_test", "env_echo", 1).text == "second\n"


def test_each_attempt_runs_in_its_own_session(project: Definitions, tmp_path: Path) -> None:
    subprocess_run(project, tmp_path, invocation("session"))
    pid, sid = read_compute_log(tmp_path, "run_test", "session", 1).text.split()
    assert pid == sid  # a session (and process group) leader: a kill reaches its children


def test_cancelling_a_thread_attempt_reports_at_once(project: Definitions, tmp_path: Path) -> None:
    """A thread cannot be killed: the attempt is reported cancelled and its result dropped."""
    execution = ThreadExecution.start(project, invocation("naps"), tmp_path)
    assert execution.poll() is None
    result = execution.kill("run cancelled")
    assert (result.outcome, result.error and result.error.message) == ("cancelled", "run cancelled")
    assert execution.poll() == result
