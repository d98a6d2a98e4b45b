"""REST API: latency and throughput of a real ``arco serve`` over loopback, SQLite and PostgreSQL.

    .venv/bin/python benchmarks/api.py [--runs 3] [--backends sqlite,postgres]
        [--reads 50] [--writes 200] [--seed events|rows] [--quick]

Per backend: a fresh store, a generated project (``events``: 100,000 hourly partitions,
code version v2, a 1-day freshness policy, identity-dependent on ``source``, same
partitions; a push sensor returning one RunRequest per message), then:

* seed, ``--seed events`` (default): real events through the ledger and the compactor —
  100 runs of 1,000 partitions, each its RunRequested, PlanCreated, and per partition
  DispatchRequested, TaskStarted, TaskFinished (every 10th failed; odd runs at code v1,
  every 5th run 2 days old), plus 10,000 newer ``source`` materializations: 100,000
  ``partition_status`` rows for ``events`` (~330k events).  ``--seed rows`` writes the
  same 100,000 rows straight into the projection (seconds instead of a minute or two).
  PostgreSQL gets ANALYZE afterwards (a live database has planner statistics).
* ``asset_summary()`` in-process: the service function the summary route calls, timed
  directly (no HTTP), ``--reads`` calls after one warm-up call.
* ``arco serve -f project`` on a free loopback port (one uvicorn process, as shipped);
  one keep-alive httpx client, requests sent one after another, ``--warmup`` untimed
  first; per run: ``--reads`` GET summary, ``--writes`` of each mutation:
  - GET /api/v1/orchestration/assets/events/partitions/summary (target p95 < 200 ms),
  - POST /api/v1/orchestration/backfills: a backfill over all 100,000 partitions,
    chunk size 100, a new ``client_request_id`` each (nothing plans it: no daemon runs),
  - POST /api/v1/orchestration/runs: a manual run of one partition, a new Idempotency-Key
    each,
  - POST /api/v1/orchestration/sensors/{id}/push: a new Pub/Sub message id each.
  A route the server does not serve (absent from /openapi.json) is skipped with a note.

Each number is the median over ``--runs`` runs of that statistic.
PostgreSQL comes from ARCO_BENCH_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432/test),
each run in a fresh schema.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from common import fresh_database, header, percentile, table

from arco.events import OrchestrationEvent, Payload
from arco.fold.context import iso
from arco.fold.partitions import status_pk
from arco.fold.rows import Doc, Row, Scope
from arco.fold.tables import PARTITION_STATUS, SENSOR_DEFINITIONS
from arco.logs import configure_logging
from arco.partitions import HourlyPartitionsDefinition
from arco.runtime.instance import Instance
from arco.sdk.definitions import Definitions
from arco.sdk.loading import load_definitions
from arco.secrets import TenantSecrets
from arco.services import ServiceContext
from arco.services.definitions import sync_definitions
from arco.services.partitions import asset_infos, asset_summary
from arco.storage.database import write_transaction
from arco.storage.projections import BatchRows
from arco.storage.reader import Query
from support.backfills import run_events
from support.factories import run_requested

TENANT, WORKSPACE, TOKEN = "bench", "main", "bench-token"
SECRETS = {TENANT: "bench-secret"}
SCOPE = Scope(TENANT, WORKSPACE)
API = "/api/v1/orchestration"
ARCO = Path(sys.executable).with_name("arco")
PARTITIONS = 100_000
RUN_SIZE = 1000
START = datetime(2010, 1, 1, tzinfo=UTC)
HOURLY = HourlyPartitionsDefinition(
    start_date="2010-01-01-00:00", end_date=START + timedelta(hours=PARTITIONS)
)
INHERITED_ARCO = ("ARCO_DATABASE_URL", "ARCO_DATA_DIR", "ARCO_URL", "ARCO_TOKEN")

PROJECT = f"""
from datetime import UTC, datetime, timedelta

from arco import (
    Definitions, FreshnessPolicy, HourlyPartitionsDefinition, RunRequest, asset, push_sensor
)

HOURLY = HourlyPartitionsDefinition(
    start_date="2010-01-01-00:00",
    end_date=datetime(2010, 1, 1, tzinfo=UTC) + timedelta(hours={PARTITIONS}),
)


@asset(partitions_def=HOURLY)
def source() -> None:
    return None


@asset(
    partitions_def=HOURLY,
    deps=[source],
    code_version="v2",
    freshness_policy=FreshnessPolicy(maximum_lag_minutes=24 * 60),
)
def events() -> None:
    return None


@asset
def pushed() -> None:
    return None


@push_sensor(asset_selection=["pushed"])
def bench_push(context):
    return RunRequest(run_key=context.message.message_id)


defs = Definitions(assets=[source, events, pushed], sensors=[bench_push])
"""


def _context(instance: Instance) -> ServiceContext:
    return ServiceContext(
        SCOPE, instance.ledger, instance.reader, TenantSecrets(SECRETS), instance.clock
    )


def _check(ok: object, what: object) -> None:
    """Stop the benchmark if what it measured is not what it meant to measure."""
    if not ok:
        raise SystemExit(f"unexpected result: {what!r}")


# --- seeding ---------------------------------------------------------------------------------


def _keys() -> list[str]:
    keys = list(HOURLY.iter_keys(0, datetime.now(UTC)))
    _check(len(keys) == PARTITIONS, len(keys))
    return keys


def seed_events(instance: Instance, keys: list[str]) -> None:
    """100,000 partitions of ``events`` materialized (or failed) through real task facts."""
    now = datetime.now(UTC)
    ledger = instance.ledger

    def append(
        run_key: str,
        asset: str,
        chunk: list[str],
        at: datetime,
        failing: Collection[str] = (),
        code_version: str = "v1",
    ) -> None:
        request = run_requested(run_key, assets=(asset,), tenant=TENANT, workspace=WORKSPACE)
        facts = run_events(
            request.run_id, chunk, failing, assets=(asset,), code_version=code_version
        )
        payloads: list[Payload] = [request, *facts]
        batch = [OrchestrationEvent.new(TENANT, WORKSPACE, p, now=at) for p in payloads]
        for start in range(0, len(batch), 1000):
            ledger.append(batch[start : start + 1000])

    for number, start in enumerate(range(0, len(keys), RUN_SIZE)):
        chunk = keys[start : start + RUN_SIZE]
        at = now - (timedelta(days=2) if number % 5 == 0 else timedelta(hours=1))
        version = "v1" if number % 2 else "v2"
        append(
            f"seed-{number}", "events", chunk, at, failing=set(chunk[::10]), code_version=version
        )
        if number == 0:
            _analyze(instance)  # the idempotency-key lookups need statistics on PostgreSQL
    upstream = keys[5::10]
    for number, start in enumerate(range(0, len(upstream), RUN_SIZE)):
        chunk = upstream[start : start + RUN_SIZE]
        append(f"seed-source-{number}", "source", chunk, now - timedelta(minutes=30))
    instance.compactor.run_once(limit=5000)
    _analyze(instance)
    instance.compactor.catch_up(limit=5000)


def seed_rows(instance: Instance, keys: list[str]) -> None:
    """The same 100,000 ``events`` rows (and 10,000 ``source`` rows) written as projection rows."""
    now = datetime.now(UTC)
    docs: list[Doc] = []
    for index, key in enumerate(keys):
        number = index // RUN_SIZE
        at = iso(now - (timedelta(days=2) if number % 5 == 0 else timedelta(hours=1)))
        failed = index % 10 == 0
        docs.append(
            {
                "asset_key": "events",
                "partition_key": key,
                "in_progress": False,
                "last_attempt_outcome": "failed" if failed else "succeeded",
                "last_attempt_at": at,
                "last_materialization_at": None if failed else at,
                "last_materialization_code_version": None
                if failed
                else ("v1" if number % 2 else "v2"),
            }
        )
        if index % 10 == 5:
            upstream_at = iso(now - timedelta(minutes=30))
            docs.append(
                {
                    "asset_key": "source",
                    "partition_key": key,
                    "in_progress": False,
                    "last_attempt_outcome": "succeeded",
                    "last_materialization_at": upstream_at,
                }
            )
    with write_transaction(instance.engine) as connection:
        rows = BatchRows(connection, assume_empty=True)
        for doc in docs:
            pk = status_pk(str(doc["asset_key"]), str(doc["partition_key"]))
            rows.put(PARTITION_STATUS.name, SCOPE, pk, Row.of(doc, "01J00000000000000000000000"))
        rows.flush()
    _analyze(instance)


def _analyze(instance: Instance) -> None:
    if instance.engine.dialect.name == "postgresql":
        with instance.engine.connect() as connection:
            connection.exec_driver_sql("ANALYZE")
            connection.commit()


# --- the server ------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def serving(url: str, data_dir: Path, project: Path) -> Iterator[str]:
    """``arco serve`` over ``url`` until the block ends; yields its base URL."""
    env = {k: v for k, v in os.environ.items() if k not in INHERITED_ARCO}
    env["ARCO_TENANT_SECRETS"] = json.dumps(SECRETS)
    env["ARCO_API_TOKENS"] = json.dumps({TOKEN: {"tenant": TENANT, "workspace": WORKSPACE}})
    log_path = data_dir / "server.log"
    for _attempt in range(3):  # another process may take the port between probe and bind
        port = _free_port()
        command = [str(ARCO), "serve", "--data-dir", str(data_dir), "--database-url", url]
        command += ["--port", str(port), "-f", str(project)]
        with log_path.open("w") as log:
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
        base = f"http://127.0.0.1:{port}"
        try:
            if _healthy(process, base):
                yield base
                return
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    raise SystemExit(f"arco serve did not start:\n{log_path.read_text()}")


def _healthy(process: subprocess.Popen[bytes], base: str) -> bool:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            if httpx.get(f"{base}/healthz", timeout=1.0).status_code == 200:
                return True
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise SystemExit("arco serve did not answer /healthz within 60 s")


# --- measuring -------------------------------------------------------------------------------

Call = Callable[[httpx.Client, int], httpx.Response]


@dataclass
class Endpoint:
    name: str
    method: str
    path: str  # as in /openapi.json
    call: Call
    status: int
    count_attr: str  # "reads" or "writes"
    p50: list[float] = field(default_factory=list)
    p95: list[float] = field(default_factory=list)
    p99: list[float] = field(default_factory=list)
    rate: list[float] = field(default_factory=list)

    def record(self, timings: list[float], elapsed: float) -> None:
        """One run's latencies (ms) and its wall time (s)."""
        self.p50.append(percentile(timings, 50))
        self.p95.append(percentile(timings, 95))
        self.p99.append(percentile(timings, 99))
        self.rate.append(len(timings) / elapsed)


def _unused(client: httpx.Client, index: int) -> httpx.Response:
    raise NotImplementedError


class Counter:
    """A fresh number for every request, so no two mutations share an id."""

    def __init__(self) -> None:
        self.value = 0

    def next(self) -> int:
        self.value += 1
        return self.value


def endpoints(keys: list[str], sensor_id: str, counter: Counter) -> list[Endpoint]:
    selector = {"kind": "range", "start": keys[0], "end": keys[-1]}

    def summary(client: httpx.Client, _: int) -> httpx.Response:
        return client.get(f"{API}/assets/events/partitions/summary")

    def backfill(client: httpx.Client, _: int) -> httpx.Response:
        body = {
            "asset_selection": ["events"],
            "selector": selector,
            "chunk_size": 100,
            "client_request_id": f"bench-{counter.next()}",
        }
        return client.post(f"{API}/backfills", json=body)

    def manual_run(client: httpx.Client, _: int) -> httpx.Response:
        n = counter.next()
        body = {"asset_selection": ["events"], "partition_keys": [keys[n % len(keys)]]}
        return client.post(f"{API}/runs", json=body, headers={"Idempotency-Key": f"run-{n}"})

    def push(client: httpx.Client, _: int) -> httpx.Response:
        n = counter.next()
        data = base64.b64encode(json.dumps({"n": n}).encode()).decode()
        message = {"messageId": f"api-{n}", "data": data, "publishTime": iso(datetime.now(UTC))}
        body = {"message": message, "subscription": "projects/bench/subscriptions/bench"}
        return client.post(f"{API}/sensors/{sensor_id}/push", json=body)

    return [
        Endpoint(
            "GET assets/events/partitions/summary",
            "get",
            f"{API}/assets/{{asset_key}}/partitions/summary",
            summary,
            200,
            "reads",
        ),
        Endpoint(
            "POST backfills (100k range)", "post", f"{API}/backfills", backfill, 202, "writes"
        ),
        Endpoint(
            "POST runs (manual, 1 partition)", "post", f"{API}/runs", manual_run, 202, "writes"
        ),
        Endpoint(
            "POST sensors/{id}/push",
            "post",
            f"{API}/sensors/{{sensor_id}}/push",
            push,
            202,
            "writes",
        ),
    ]


def measure(client: httpx.Client, endpoint: Endpoint, count: int, warmup: int) -> None:
    """One run: ``warmup`` untimed requests, then ``count`` timed ones, one after another."""
    for index in range(warmup):
        _expect(endpoint, endpoint.call(client, index))
    timings = []
    started = time.perf_counter()
    for index in range(count):
        before = time.perf_counter()
        response = endpoint.call(client, index)
        timings.append((time.perf_counter() - before) * 1000)
        _expect(endpoint, response)
    endpoint.record(timings, time.perf_counter() - started)


def _expect(endpoint: Endpoint, response: httpx.Response) -> None:
    if response.status_code != endpoint.status:
        raise SystemExit(
            f"{endpoint.name}: HTTP {response.status_code} (expected {endpoint.status}):"
            f" {response.text[:500]}"
        )


def _served(paths: dict[str, dict[str, object]], endpoint: Endpoint) -> bool:
    """Whether /openapi.json lists the route (path parameters may carry any name)."""

    def shape(path: str) -> list[str]:
        return ["{}" if part.startswith("{") else part for part in path.split("/")]

    wanted = shape(endpoint.path)
    return any(shape(path) == wanted and endpoint.method in ops for path, ops in paths.items())


# --- one backend -----------------------------------------------------------------------------


@dataclass
class BackendResult:
    seed_seconds: float
    service: Endpoint
    endpoints: list[Endpoint]
    skipped: list[str]


def run_backend(backend: str, args: argparse.Namespace) -> BackendResult:
    keys = _keys()
    with fresh_database(backend) as url, tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        project = directory / "project.py"
        project.write_text(textwrap.dedent(PROJECT))
        definitions = load_definitions(file=project)
        _check(isinstance(definitions, Definitions), definitions)
        instance = Instance.open(url)
        ctx = _context(instance)
        sync_definitions(ctx, definitions, wait_seconds=None)
        started = time.perf_counter()
        (seed_events if args.seed == "events" else seed_rows)(instance, keys)
        instance.compactor.catch_up()
        seed_seconds = time.perf_counter() - started
        found = instance.reader.all(SENSOR_DEFINITIONS, SCOPE, Query(where={"name": "bench_push"}))
        _check(len(found) == 1, found)
        sensor_id = str(found[0]["sensor_id"])

        info = asset_infos(definitions.assets)["events"]
        summary = asset_summary(ctx, info)  # warm, as a live server would be
        _check(summary.total == PARTITIONS, summary.to_dict())
        print(json.dumps(summary.to_dict()), file=sys.stderr, flush=True)
        service = Endpoint("asset_summary() in-process (no HTTP)", "", "", _unused, 0, "reads")
        for _ in range(args.runs):
            timings = []
            started = time.perf_counter()
            for _ in range(args.reads):
                before = time.perf_counter()
                asset_summary(ctx, info)
                timings.append((time.perf_counter() - before) * 1000)
            service.record(timings, time.perf_counter() - started)
        instance.close()

        counter = Counter()
        chosen = endpoints(keys, sensor_id, counter)
        with serving(url, directory, project) as base:
            headers = {"Authorization": f"Bearer {TOKEN}"}
            with httpx.Client(base_url=base, headers=headers, timeout=60.0) as client:
                paths = client.get("/openapi.json").json()["paths"]
                skipped = [e.name for e in chosen if not _served(paths, e)]
                live = [e for e in chosen if e.name not in skipped]
                for _ in range(args.runs):
                    for endpoint in live:
                        measure(client, endpoint, getattr(args, endpoint.count_attr), args.warmup)
    return BackendResult(seed_seconds, service, live, skipped)


# --- main ------------------------------------------------------------------------------------


def _median(values: list[float], digits: int = 1) -> str:
    return f"{statistics.median(values):,.{digits}f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--reads", type=int, default=50, help="summary reads per run")
    parser.add_argument("--writes", type=int, default=200, help="requests per mutation per run")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--seed", choices=("events", "rows"), default="events")
    parser.add_argument("--quick", action="store_true", help="rows seed, small counts, one run")
    args = parser.parse_args()
    if args.quick:
        args.runs, args.reads, args.writes, args.warmup, args.seed = 1, 20, 40, 5, "rows"
    configure_logging("WARNING")
    rows: list[list[str]] = []
    notes: list[str] = []
    for backend in args.backends.split(","):
        result = run_backend(backend, args)
        for endpoint in [result.service, *result.endpoints]:
            rows.append(
                [
                    backend,
                    endpoint.name,
                    str(getattr(args, endpoint.count_attr)),
                    _median(endpoint.p50),
                    _median(endpoint.p95),
                    _median(endpoint.p99),
                    _median(endpoint.rate, 0),
                ]
            )
        notes.append(
            f"{backend}: seeded {PARTITIONS:,} partition_status rows ({args.seed}) in"
            f" {result.seed_seconds:.0f} s"
        )
        notes += [
            f"{backend}: skipped {name}: the server does not serve it" for name in result.skipped
        ]
        print(rows[-1], file=sys.stderr, flush=True)
    print(header(f"REST API over loopback, one arco serve process (median of {args.runs} runs)"))
    print(
        table(
            ["backend", "request", "requests/run", "p50 ms", "p95 ms", "p99 ms", "requests/s"],
            rows,
        )
    )
    print()
    for note in notes:
        print(f"* {note}")
    print(
        "* one keep-alive httpx client, sequential requests after"
        f" {args.warmup} warm-up requests per endpoint and run; summary target p95 < 200 ms"
    )


if __name__ == "__main__":
    main()
