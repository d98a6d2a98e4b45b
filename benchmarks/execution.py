"""Execution end to end: no-op task throughput, and scheduled time → task started latency.

    .venv/bin/python benchmarks/execution.py [--tasks 120] [--runs 3] [--ticks 15]
        [--backends sqlite,postgres] [--executors fork,spawn,thread]

Everything runs as real processes: a daemon (compactor + passes, woken every
``--daemon-interval`` s at most) and 1 or 2 workers (``--concurrency`` slots each).

* Throughput: ``--tasks`` partitions of a no-op asset, requested as manual runs of 10
  partitions each, all at once; tasks/s = tasks / (first request → last run succeeded).
  Executors: ``fork`` is production's (a process per attempt, forked from the worker's
  fork server), ``spawn`` the same with a fresh interpreter per attempt
  (``ARCO_TASK_START=spawn``), ``thread`` is ``arco dev``'s (no process at all).
* Latency: a schedule ticking every 2 seconds on a no-op asset, one worker; for each of
  ``--ticks`` ticks, the TaskStarted timestamp minus the scheduled instant.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import fresh_database, header, percentile, table

from arco.events import ScheduleTicked, TaskStarted
from arco.fold.rows import Scope
from arco.fold.tables import RUNS
from arco.runtime.instance import Instance
from arco.sdk.loading import load_definitions
from arco.secrets import TenantSecrets
from arco.services import ServiceContext
from arco.services.definitions import sync_definitions
from arco.services.runs import request_manual_run
from arco.storage.reader import Query

TENANT, WORKSPACE = "bench", "main"
SECRETS = {TENANT: "bench-secret"}
SCOPE = Scope(TENANT, WORKSPACE)
RUN_SIZE = 10

PROJECT = """
import os
from arco import (
    DefaultScheduleStatus, Definitions, ScheduleDefinition, StaticPartitionsDefinition, asset
)

PARTS = StaticPartitionsDefinition([f"p{i}" for i in range(int(os.environ["BENCH_TASKS"]))])

@asset(partitions_def=PARTS)
def noop() -> None:
    return None

@asset
def ticked() -> None:
    return None

every_two_seconds = ScheduleDefinition(
    "every_two_seconds",
    cron_schedule="* * * * * */2",
    target=[ticked],
    default_status=DefaultScheduleStatus(os.environ.get("BENCH_SCHEDULE", "STOPPED")),
    catchup_window_minutes=0,
)

defs = Definitions(assets=[noop, ticked], schedules=[every_two_seconds])
"""


# --- the child processes -------------------------------------------------------------------


def _stop_on_sigterm() -> threading.Event:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    return stop


def run_daemon(url: str, project: str, interval: str) -> None:
    from arco.runtime.daemon import Daemon
    from arco.runtime.execution_pass import execution_pass
    from arco.runtime.schedule_pass import run_schedule_pass

    instance = Instance.open(url)
    env = instance.runtime_env(TenantSecrets(SECRETS))
    graph = load_definitions(file=project).asset_graph()
    passes = [("schedules", run_schedule_pass), ("execution", execution_pass(graph))]
    daemon = Daemon(env, instance.compactor, passes, interval=float(interval))
    daemon.run_forever(_stop_on_sigterm())


def run_worker_process(url: str, project: str, worker_id: str, executor: str, logs: str) -> None:
    from arco.runtime.worker import WorkerSettings, run_worker

    instance = Instance.open(url)
    run_worker(
        instance.runtime_env(TenantSecrets(SECRETS)),
        load_definitions(file=project),
        concurrency=int(sys.argv[-1]),
        worker_id=worker_id,
        stop_event=_stop_on_sigterm(),
        in_process=executor == "thread",  # fork and spawn: the subprocess executor
        settings=WorkerSettings(logs_dir=Path(logs)),
    )


# --- the measurements ----------------------------------------------------------------------


class Processes:
    def __init__(self, directory: Path, env: dict[str, str]) -> None:
        self.directory, self.env = directory, env
        self.children: list[subprocess.Popen[bytes]] = []

    def start(self, *arguments: str) -> None:
        with (self.directory / f"{arguments[0]}-{len(self.children)}.log").open("wb") as log:
            self.children.append(
                subprocess.Popen(
                    [sys.executable, __file__, *arguments],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=self.env,
                )
            )

    def stop(self) -> None:
        for child in self.children:
            child.send_signal(signal.SIGTERM)
        for child in self.children:
            child.wait(timeout=60)


def cluster(
    url: str, directory: Path, project: Path, args: argparse.Namespace, env: dict[str, str]
) -> Processes:
    env = {**env, "ARCO_TASK_START": "spawn"} if args.executor == "spawn" else env
    processes = Processes(directory, env)
    processes.start("daemon", url, str(project), str(args.daemon_interval))
    for index in range(args.workers):
        processes.start(
            "worker",
            url,
            str(project),
            f"bench-w{index}",
            args.executor,
            str(directory / "logs"),
            str(args.concurrency),
        )
    time.sleep(3)  # let every process import and connect before the clock starts
    return processes


def context(instance: Instance) -> ServiceContext:
    return ServiceContext(
        SCOPE, instance.ledger, instance.reader, TenantSecrets(SECRETS), instance.clock
    )


def throughput(backend: str, args: argparse.Namespace, env: dict[str, str]) -> float:
    """Tasks per second through the whole engine."""
    with fresh_database(backend) as url, tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        project = directory / "definitions.py"
        project.write_text(textwrap.dedent(PROJECT))
        processes = cluster(url, directory, project, args, env)
        instance = Instance.open(url)
        try:
            started = time.perf_counter()
            keys = [f"p{i}" for i in range(args.tasks)]
            for start in range(0, args.tasks, RUN_SIZE):
                request_manual_run(context(instance), ["noop"], keys[start : start + RUN_SIZE])
            runs = -(-args.tasks // RUN_SIZE)
            succeeded = Query(where={"state": "succeeded"})
            while instance.reader.count(RUNS, SCOPE, succeeded) < runs:
                if time.perf_counter() - started > args.timeout:
                    raise SystemExit(f"{backend}: timed out; logs in {directory}")
                time.sleep(0.02)
            return float(args.tasks) / (time.perf_counter() - started)
        finally:
            processes.stop()
            instance.close()


def latencies(backend: str, args: argparse.Namespace, env: dict[str, str]) -> list[float]:
    """Seconds from each tick's scheduled instant to its task's TaskStarted."""
    env = {**env, "BENCH_SCHEDULE": "RUNNING"}
    with fresh_database(backend) as url, tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        project = directory / "definitions.py"
        project.write_text(textwrap.dedent(PROJECT))
        instance = Instance.open(url)
        os.environ["BENCH_SCHEDULE"] = "RUNNING"  # this process loads the project too
        sync_definitions(context(instance), load_definitions(file=project), wait_seconds=None)
        one_worker = argparse.Namespace(**{**vars(args), "workers": 1})
        processes = cluster(url, directory, project, one_worker, env)
        try:
            time.sleep(2 * args.ticks + 2)
        finally:
            processes.stop()
        ticks: dict[str, int] = {}
        started: dict[str, float] = {}
        for event in instance.ledger.read(limit=1_000_000):
            data = event.data
            if isinstance(data, ScheduleTicked) and data.run_id and data.status == "triggered":
                ticks[data.run_id] = data.scheduled_epoch
            elif isinstance(data, TaskStarted):
                started.setdefault(data.run_id, event.timestamp.timestamp())
        instance.close()
        return [started[run] - epoch for run, epoch in ticks.items() if run in started]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=120)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--ticks", type=int, default=15)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--executors", default="fork,spawn,thread")
    parser.add_argument("--concurrency", type=int, default=2, help="slots per worker")
    parser.add_argument("--daemon-interval", type=float, default=0.1)
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args()
    env = {**os.environ, "BENCH_TASKS": str(args.tasks)}
    os.environ["BENCH_TASKS"] = str(args.tasks)
    rows = []
    for backend in args.backends.split(","):
        for executor in args.executors.split(","):
            for workers in (1, 2):
                options = argparse.Namespace(**{**vars(args), "workers": workers})
                options.executor = executor
                rates = [throughput(backend, options, env) for _ in range(args.runs)]
                rows.append(
                    [
                        backend,
                        executor,
                        str(workers),
                        str(workers * args.concurrency),
                        f"{statistics.median(rates):.1f}",
                        " / ".join(f"{r:.1f}" for r in rates),
                    ]
                )
                print(rows[-1], file=sys.stderr, flush=True)
    print(header("Execution: no-op task throughput"))
    print(table(["backend", "executor", "workers", "slots", "tasks/s (median)", "runs"], rows))
    print(
        f"\n{args.tasks} no-op tasks in runs of {RUN_SIZE}; median of {args.runs} runs;"
        f" daemon interval {args.daemon_interval}s\n"
    )
    latency_rows = []
    for backend in args.backends.split(","):
        options = argparse.Namespace(**vars(args))
        options.executor = "fork"
        samples = latencies(backend, options, env)
        latency_rows.append(
            [
                backend,
                str(len(samples)),
                f"{percentile(samples, 50) * 1000:.0f}",
                f"{percentile(samples, 95) * 1000:.0f}",
            ]
        )
    print(header("Execution: scheduled time → task started"))
    print(table(["backend", "ticks", "p50 ms", "p95 ms"], latency_rows))
    print(
        "\nschedule every 2 s, one worker (fork executor); TaskStarted is appended when the"
        " worker claims the task, just before the attempt's process starts"
    )


if __name__ == "__main__":
    role = sys.argv[1] if len(sys.argv) > 1 else ""
    if role == "daemon":
        run_daemon(*sys.argv[2:5])
    elif role == "worker":
        run_worker_process(*sys.argv[2:7])
    else:
        main()
