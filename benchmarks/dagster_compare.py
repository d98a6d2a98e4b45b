"""Arco and Dagster side by side on the same workloads, in one run, on SQLite and PostgreSQL.

    .venv/bin/python benchmarks/dagster_compare.py [--runs 3] [--backends sqlite,postgres] [--quick]

Arco runs in this process (Arco's venv); Dagster runs in ``.venv-dagster`` (its pins
conflict with Arco's), created on first use from benchmarks/dagster-constraints.txt,
through benchmarks/dagster_side.py, which prints JSON. Each Arco measurement gets a
fresh database (common.fresh_database); each Dagster one a fresh instance (a temporary
directory, or a new PostgreSQL database on the same server, dropped afterwards).
Numbers are medians over --runs. Where a Dagster size is smaller than Arco's, it is
because Dagster is too slow at the full size for one benchmark run; the row says so and
the unit is a rate, so the sizes only change how long we wait.

1a. Record partition materializations, one write per materialization. Arco: TaskFinished
    (succeeded) events of dispatched and started tasks (runs of 10 tasks, set up untimed)
    appended one per ledger transaction, then the compactor folding them into tasks, runs
    and partition status; events/s over append + fold. Dagster: see dagster_side.py.
1b. The same in batches of 500 (Arco: 500 events per append).
2.  Backfill run creation, one run per partition. Arco: the "runs 10k" measurement of
    backfill.py (runner pass appending 10,000 RunRequested events, then the fold into
    runs); runs/s. Dagster: create_run_for_job + enqueue per partition (dagster_side.py).
3.  Partition status of an asset with 100,000 partitions, p95 of 50 reads. Arco: the
    summary of backfill.py (summary_p95). Dagster: the asset status cache the UI reads
    (3), and the public get_materialized_partitions (3b), after seeding a comparable
    event history; the seeding time is printed under the table.
4.  Schedule evaluation of 1,000 schedules: not compared (see the note printed).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from backfill import DAILY, NOW, plan_and_fold, summary_p95
from common import DEFAULT_POSTGRES, POSTGRES_ENV, fresh_database, header, table

from arco.compactor import Compactor
from arco.events import (
    DispatchRequested,
    OrchestrationEvent,
    PlanCreated,
    TaskFinished,
    TaskSpec,
    TaskStarted,
)
from arco.events.execution import task_key_for
from arco.fold.partitions import status_pk
from arco.fold.tables import PARTITION_STATUS
from arco.ledger import ledger_for
from arco.logs import configure_logging
from arco.storage.database import open_engine
from arco.storage.reader import ProjectionReader
from support.backfills import SCOPE
from support.factories import envelope, run_requested

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / ".venv-dagster"
SIDE = Path(__file__).resolve().parent / "dagster_side.py"
CONSTRAINTS = Path(__file__).resolve().parent / "dagster-constraints.txt"
RUN_SIZE = 10
BATCH = 500

# (Arco size, Dagster size per backend) for each workload; --quick shrinks everything.
FULL = {
    "record": (2_000, {"sqlite": 1_000, "postgres": 1_000}),
    "record_batch": (10_000, {"sqlite": 1_000, "postgres": 10_000}),
    "runs": (10_000, {"sqlite": 250, "postgres": 1_000}),
    "status": (100_000, {"sqlite": 20_000, "postgres": 100_000}),
}
QUICK = {
    "record": (500, {"sqlite": 100, "postgres": 100}),
    "record_batch": (1_000, {"sqlite": 100, "postgres": 1_000}),
    "runs": (500, {"sqlite": 50, "postgres": 50}),
    "status": (100_000, {"sqlite": 2_000, "postgres": 5_000}),
}


# --- Arco ----------------------------------------------------------------------------------


def _events(count: int) -> tuple[list[OrchestrationEvent], list[OrchestrationEvent]]:
    """Runs of RUN_SIZE started tasks (setup), and one successful TaskFinished per task."""
    setup: list[OrchestrationEvent] = []
    finished: list[OrchestrationEvent] = []
    for run in range(count // RUN_SIZE):
        request = run_requested(f"r{run}")
        run_id = request.run_id
        keys = [DAILY.key_at(run * RUN_SIZE + i) for i in range(RUN_SIZE)]
        specs = tuple(
            TaskSpec(task_key=task_key_for("raw", k), asset_key="raw", partition_key=k)
            for k in keys
        )
        setup += [envelope(request, at=NOW), envelope(PlanCreated(run_id=run_id, tasks=specs))]
        for spec in specs:
            attempt_id = f"{run_id}:{spec.task_key}:1"
            common = {"run_id": run_id, "task_key": spec.task_key, "attempt_id": attempt_id}
            setup.append(envelope(DispatchRequested(attempt=1, **common), at=NOW))
            setup.append(envelope(TaskStarted(attempt=1, worker_id="w1", **common), at=NOW))
            done = TaskFinished(
                attempt=1,
                outcome="succeeded",
                asset_key="raw",
                partition_key=spec.partition_key,
                code_version="v1",
                **common,
            )
            finished.append(envelope(done, at=NOW, seconds=60))
    return setup, finished


def record_materializations(url: str, count: int, batch: int) -> float:
    """events/s: append ``count`` TaskFinished events ``batch`` at a time, then fold them."""
    engine = open_engine(url)
    ledger = ledger_for(engine)
    setup, finished = _events(count)
    for start in range(0, len(setup), BATCH):
        ledger.append(setup[start : start + BATCH])
    compactor = Compactor(ledger)
    compactor.catch_up()
    started = time.perf_counter()
    for start in range(0, len(finished), batch):
        ledger.append(finished[start : start + batch])
    folded = compactor.catch_up()
    elapsed = time.perf_counter() - started
    assert folded == count, (folded, count)
    reader = ProjectionReader(engine)
    for index in (0, count - 1):
        doc = reader.get(PARTITION_STATUS, SCOPE, status_pk("raw", DAILY.key_at(index)))
        assert doc is not None
        assert doc["last_materialization_at"] is not None, doc
    engine.dispose()
    return count / elapsed


def arco_median(runs: int, backend: str, measure: Callable[[str], float]) -> float:
    values = []
    for _ in range(runs):
        with fresh_database(backend) as url:
            values.append(measure(url))
    return statistics.median(values)


# --- Dagster -------------------------------------------------------------------------------


def ensure_venv() -> Path:
    python = VENV / "bin" / "python"
    if not python.exists():
        print(f"creating {VENV.name} (pinned by {CONSTRAINTS.name}) ...", file=sys.stderr)
        subprocess.run(["python3", "-m", "venv", str(VENV)], check=True)
        subprocess.run(
            [
                python,
                "-m",
                "pip",
                "install",
                "-q",
                "-c",
                CONSTRAINTS,
                "dagster",
                "dagster-postgres",
            ],
            check=True,
        )
    return python


def dagster_postgres_url() -> str:
    """Arco's benchmark server, as a plain libpq URL (no SQLAlchemy driver suffix)."""
    url = os.environ.get(POSTGRES_ENV, DEFAULT_POSTGRES)
    scheme, rest = url.split("://", 1)
    return "postgresql://" + rest if scheme.startswith("postgresql") else url


class Dagster:
    def __init__(self, python: Path) -> None:
        self.python = python

    def run(self, workload: str, backend: str, size: int, *extra: str) -> dict[str, object]:
        command = [str(self.python), str(SIDE), workload, "--size", str(size)]
        command += ["--backend", backend, "--postgres-url", dagster_postgres_url(), *extra]
        env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
        env["PYTHONWARNINGS"] = "ignore"  # Dagster's deprecation warnings
        done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
        if done.returncode != 0:
            tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise DagsterFailedError(f"{workload} on {backend}: {tail}")
        result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
        return result

    def median(self, runs: int, workload: str, backend: str, size: int, key: str, *extra: str):
        results = [self.run(workload, backend, size, *extra) for _ in range(runs)]
        return statistics.median(float(str(r[key])) for r in results), results


class DagsterFailedError(Exception):
    pass


# --- the comparison ------------------------------------------------------------------------


def _rate(value: float) -> str:
    return f"{value:,.0f}"


def compare(backend: str, runs: int, sizes: dict, dagster: Dagster, notes: list[str]) -> list:
    rows: list[list[str]] = []

    def row(label: str, arco: str, measure: Callable[[], str], unit: str) -> None:
        try:
            theirs = measure()
        except DagsterFailedError as error:
            theirs = f"n/a: {error}"
        rows.append([label, backend, arco, theirs, unit])
        print(f"  {backend}: {label}: Arco {arco}, Dagster {theirs} {unit}", file=sys.stderr)

    arco_n, dag_n = sizes["record"][0], sizes["record"][1][backend]
    arco = arco_median(runs, backend, lambda url: record_materializations(url, arco_n, 1))
    row(
        f"1a. record materializations, 1 per write (Arco {arco_n:,} / Dagster {dag_n:,})",
        _rate(arco),
        lambda: _rate(dagster.median(runs, "record", backend, dag_n, "events_per_s")[0]),
        "events/s",
    )

    arco_n, dag_n = sizes["record_batch"][0], sizes["record_batch"][1][backend]
    arco = arco_median(runs, backend, lambda url: record_materializations(url, arco_n, BATCH))
    row(
        f"1b. same, batches of {BATCH} (Arco {arco_n:,} / Dagster {dag_n:,})",
        _rate(arco),
        lambda: _rate(
            dagster.median(runs, "record", backend, dag_n, "events_per_s", "--batch", str(BATCH))[0]
        ),
        "events/s",
    )

    arco_n, dag_n = sizes["runs"][0], sizes["runs"][1][backend]
    seconds = arco_median(runs, backend, lambda url: plan_and_fold(url, arco_n, 1)[0])
    row(
        f"2. backfill, one run per partition (Arco {arco_n:,} / Dagster {dag_n:,} runs)",
        _rate(arco_n / seconds),
        lambda: _rate(dagster.median(runs, "runs", backend, dag_n, "runs_per_s")[0]),
        "runs/s",
    )

    arco_n, dag_n = sizes["status"][0], sizes["status"][1][backend]
    p95s = []
    for _ in range(runs):
        with fresh_database(backend) as url:
            p95s.append(summary_p95(url)[1])
    status: dict[str, object] = {}

    def dagster_status() -> dict[str, object]:
        if not status:
            status.update(
                dagster.run("status", backend, dag_n, "--series", str(runs), "--reads", "50")
            )
            notes.append(
                f"{backend}: Dagster status seeding, {status['seed_events']:,} events for"
                f" {dag_n:,} partitions: {float(str(status['seed_seconds'])):,.0f} s; first"
                f" status-cache read (builds the cache): {float(str(status['cache_cold_ms'])):,.0f}"
                f" ms; counts {status['counts']}"
            )
        return status

    row(
        f"3. status of a {arco_n:,}-partition asset, p95 (Dagster: {dag_n:,}, status cache)",
        f"{statistics.median(p95s):,.0f}",
        lambda: f"{float(str(dagster_status()['cache_p95_ms'])):,.0f}",
        "ms",
    )
    row(
        f"3b. Dagster get_materialized_partitions, p95 ({dag_n:,} partitions)",
        "—",
        lambda: f"{float(str(dagster_status()['materialized_p95_ms'])):,.0f}",
        "ms",
    )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, to check it works")
    args = parser.parse_args()
    configure_logging("WARNING")
    dagster = Dagster(ensure_venv())
    version = dagster.run("record", "sqlite", 1)["dagster"]
    sizes = QUICK if args.quick else FULL
    started = time.perf_counter()
    rows: list[list[str]] = []
    notes: list[str] = []
    for backend in args.backends.split(","):
        rows += compare(backend, args.runs, sizes, dagster, notes)
    print(header(f"Arco and Dagster {version} side by side (median of {args.runs} runs)"))
    print(table(["workload", "backend", "Arco", "Dagster", "unit"], rows))
    print()
    for note in notes:
        print(f"* {note}")
    print(
        f"* Dagster {version} (+ dagster-postgres of the same release) from"
        f" {CONSTRAINTS.name}; its SQLite storage is the default one (run-sharded event log"
        " files), and both its storages open a new database connection per operation"
        " (SQLAlchemy NullPool, their default), which Arco's pooled engine does not."
    )
    print(
        "* 3b has no Arco cell: Arco's summary (row 3) is its only status read; Dagster's UI"
        " reads the status cache (row 3), get_materialized_partitions is the plain query."
    )
    print(
        "* 4. schedule evaluation of 1,000 schedules: n/a: Dagster evaluates schedules in its"
        " daemon through a gRPC code server per code location; there is no in-process"
        " public path to time against Arco's schedule pass without timing that machinery."
    )
    print(f"* whole comparison: {time.perf_counter() - started:,.0f} s; see the module docstrings")
    print("  of benchmarks/dagster_compare.py and dagster_side.py for what each cell times.")


if __name__ == "__main__":
    main()
