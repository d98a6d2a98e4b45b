"""Automation: schedule passes, scheduled time → RunRequested in the daemon, catch-up, push.

    .venv/bin/python benchmarks/automation.py [--runs 3] [--backends sqlite,postgres] [--quick]
        [--schedules 1000] [--daemon-schedules 10] [--daemon-seconds 20] [--messages 10000]

* reconcile 1,000 (pure): ``arco.controllers.schedules.reconcile`` over 1,000 minutely
  schedules, each with exactly one tick due (1,000 decisions of [ScheduleTicked,
  RunRequested]); no database, so one number for both backends.
* pass 1,000, due: ``run_schedule_pass(env, now)`` over 1,000 schedules created with
  ``services.schedules.create_schedule`` and folded, at a minute boundary: reads every
  definition and cursor, decides and appends 1,000 ticks + 1,000 RunRequested (one batch
  per tick).  Run i of N is minute i after creation on the same store (a steady state);
  the fold of what the pass appended is timed separately ("fold").
* pass 1,000, idle: the same pass again at the same instant once folded (nothing due) —
  what the daemon pays on every wake-up in between.
* daemon tick → RunRequested: a real ``Daemon`` (``controller_passes(None)``: schedules,
  sensors, backfills) in a thread, on the wall clock, ``run_forever``; ``--daemon-schedules``
  schedules ticking every second (``* * * * * *``, seconds last) for ``--daemon-seconds``.
  Latency = wall time when the batch holding the tick's RunRequested was committed minus
  the tick's ``scheduled_epoch``; also the RunRequested envelope timestamp (the pass's
  ``now``, i.e. when it was decided) minus ``scheduled_epoch``.  Samples pooled over the
  whole window (ticks of the first second after start dropped).  Target p99 < 1 s.
* catch-up 100: 10 minutely schedules (``max_catchup_ticks=100``) created at T0, one pass
  at T0 + 10 min: 10 missed ticks each = 100 ticks + RunRequested appended by that pass.
  Target < 5 s.  Fresh store per run.
* push: ``services.sensors.push_message`` for ``--messages`` Pub/Sub-shaped messages, 30%
  of them redeliveries of a random earlier message id, on ONE caller thread (the sensor
  function runs in the SensorExecutor's thread, as in the API).  The push sensor returns
  one RunRequest keyed by the message id.  The compactor folds every 1,000 messages on
  the same thread (then ANALYZE on PostgreSQL): counted in messages/s, not in latency.  Latency = the
  ``push_message`` call, which returns after the evaluation and its RunRequested are
  committed.  Target p95 < 50 ms.

On PostgreSQL every store gets ANALYZE once set up (and between runs, and at each fold of the
push run) — what autovacuum does on a live database; ``--no-analyze`` measures a schema without
statistics, where the ledger's idempotency-key lookups get slower as it grows.
PostgreSQL comes from ARCO_BENCH_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432/test),
each store in a fresh schema.
"""

from __future__ import annotations

import argparse
import base64
import random
import statistics
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import fresh_database, header, percentile, table

from arco import RunRequest, SensorEvaluationContext, push_sensor
from arco.clock import Clock, ManualClock
from arco.controllers.schedules import ScheduleDefinition, ScheduleState, reconcile
from arco.events import OrchestrationEvent, PushMessage, RunRequested, ScheduleTicked
from arco.events.schedules import ScheduleSpec
from arco.fold.rows import Scope
from arco.fold.tables import RUNS
from arco.ledger import AppendOutcome
from arco.logs import configure_logging
from arco.runtime.composition import controller_passes
from arco.runtime.daemon import Daemon
from arco.runtime.env import RuntimeEnv
from arco.runtime.instance import Instance
from arco.runtime.schedule_pass import run_schedule_pass
from arco.secrets import TenantSecrets
from arco.services import ServiceContext
from arco.services import sensors as sensor_service
from arco.services.schedules import create_schedule

TENANT, WORKSPACE = "bench", "main"
SECRETS = {TENANT: "bench-secret"}
SCOPE = Scope(TENANT, WORKSPACE)
T0 = datetime(2026, 1, 1, tzinfo=UTC)  # a minute boundary
MINUTE = timedelta(minutes=1)
CATCHUP_SCHEDULES, CATCHUP_MISSED = 10, 10
REDELIVERED = 0.30
FOLD_EVERY = 1000
ANALYZE = True  # --no-analyze turns it off


def _spec(index: int, cron: str, **options: int) -> ScheduleSpec:
    return ScheduleSpec(
        name=f"bench-{index:05d}", cron=cron, asset_selection=("events",), **options
    )


def _context(instance: Instance, clock: Clock) -> ServiceContext:
    return ServiceContext(SCOPE, instance.ledger, instance.reader, TenantSecrets(SECRETS), clock)


def _check(ok: object, what: object) -> None:
    """Stop the benchmark if what it measured is not what it meant to measure."""
    if not ok:
        raise SystemExit(f"unexpected result: {what!r}")


def _analyze(instance: Instance) -> None:
    """PostgreSQL: gather planner statistics, as autovacuum keeps doing on a live database.

    A brand-new schema has none, and then the ledger's idempotency-key lookups scan every key
    of the scope; ``--no-analyze`` measures that cold state instead.
    """
    if ANALYZE and instance.engine.dialect.name == "postgresql":
        with instance.engine.connect() as connection:
            connection.exec_driver_sql("ANALYZE")
            connection.commit()


def _create_schedules(ctx: ServiceContext, count: int, cron: str, **options: int) -> None:
    for index in range(count):
        create_schedule(ctx, _spec(index, cron, **options), schedule_id=f"sched-{index:05d}")


# --- schedules -------------------------------------------------------------------------------


def pure_reconcile(count: int, runs: int) -> float:
    """Median ms of one ``reconcile`` over ``count`` schedules with one tick due each."""
    definitions = [
        ScheduleDefinition(
            TENANT, WORKSPACE, f"sched-{i:05d}", 1, _spec(i, "* * * * *"), True, T0 - MINUTE
        )
        for i in range(count)
    ]
    states = {
        d.schedule_id: ScheduleState(last_scheduled_epoch=int(T0.timestamp())) for d in definitions
    }
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        decisions = reconcile(definitions, states, T0 + MINUTE, SECRETS.__getitem__)
        timings.append((time.perf_counter() - started) * 1000)
        _check(len(decisions) == count, len(decisions))
    return statistics.median(timings)


@dataclass
class PassTimes:
    due: list[float] = field(default_factory=list)
    fold: list[float] = field(default_factory=list)
    idle: list[float] = field(default_factory=list)


def full_pass(backend: str, count: int, runs: int) -> PassTimes:
    """ms of the schedule pass with one tick due per schedule, its fold, and an idle pass."""
    times = PassTimes()
    with fresh_database(backend) as url:
        clock = ManualClock(T0)
        instance = Instance.open(url, clock=clock)
        _create_schedules(_context(instance, clock), count, "* * * * *")
        instance.compactor.catch_up()
        _analyze(instance)
        env = instance.runtime_env(TenantSecrets(SECRETS))
        for run in range(1, runs + 1):
            now = T0 + run * MINUTE
            clock.set(now)
            started = time.perf_counter()
            report = run_schedule_pass(env, now)
            times.due.append((time.perf_counter() - started) * 1000)
            _check(report.appended == 2 * count and report.errors == 0, report)
            started = time.perf_counter()
            instance.compactor.catch_up()
            times.fold.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            report = run_schedule_pass(env, now)
            times.idle.append((time.perf_counter() - started) * 1000)
            _check(report.decisions == 0 and report.errors == 0, report)
            _analyze(instance)  # untimed, between runs
        instance.close()
    return times


def catch_up(backend: str) -> float:
    """Seconds for one pass to append 100 missed ticks (10 schedules × 10 minutes)."""
    with fresh_database(backend) as url:
        clock = ManualClock(T0)
        instance = Instance.open(url, clock=clock)
        _create_schedules(
            _context(instance, clock), CATCHUP_SCHEDULES, "* * * * *", max_catchup_ticks=100
        )
        instance.compactor.catch_up()
        _analyze(instance)
        env = instance.runtime_env(TenantSecrets(SECRETS))
        now = T0 + CATCHUP_MISSED * MINUTE
        clock.set(now)
        started = time.perf_counter()
        report = run_schedule_pass(env, now)
        elapsed = time.perf_counter() - started
        ticks = CATCHUP_SCHEDULES * CATCHUP_MISSED
        _check(report.appended == 2 * ticks and report.errors == 0, report)
        instance.close()
    return elapsed


@dataclass
class TimedEnv(RuntimeEnv):
    """A RuntimeEnv noting, per triggered tick, when its batch (with the RunRequested) committed."""

    samples: list[tuple[int, float, float]] = field(default_factory=list)

    def append(self, batch: Sequence[OrchestrationEvent]) -> list[AppendOutcome]:
        outcomes = super().append(batch)
        committed = time.time()
        requested = any(isinstance(e.data, RunRequested) for e in batch)
        for event, outcome in zip(batch, outcomes, strict=True):
            tick = event.data
            if requested and isinstance(tick, ScheduleTicked) and not outcome.duplicate:
                decided = event.timestamp.timestamp()
                self.samples.append((tick.scheduled_epoch, decided, committed))
        return outcomes


def daemon_latency(backend: str, schedules: int, seconds: float) -> tuple[list[float], list[float]]:
    """(committed − scheduled, decided − scheduled) seconds of every tick in the window."""
    with fresh_database(backend) as url:
        instance = Instance.open(url)
        _create_schedules(_context(instance, instance.clock), schedules, "* * * * * *")
        instance.compactor.catch_up()
        _analyze(instance)
        env = TimedEnv(instance.ledger, instance.reader, TenantSecrets(SECRETS), instance.clock)
        daemon = Daemon(env, instance.compactor, controller_passes(None))
        stop = threading.Event()
        thread = threading.Thread(target=daemon.run_forever, args=(stop,), daemon=True)
        started = time.time()
        thread.start()
        time.sleep(seconds)
        stop.set()
        daemon.wake.set()
        thread.join(timeout=30)
        instance.close()
    kept = [s for s in env.samples if s[0] >= started + 1]
    return [c - e for e, _, c in kept], [d - e for e, d, _ in kept]


# --- push sensor -----------------------------------------------------------------------------


@push_sensor(name="bench_push", asset_selection=["events"])
def bench_push(context: SensorEvaluationContext) -> RunRequest:
    """One run per message, keyed by its id."""
    return RunRequest(run_key=context.message.message_id, asset_selection=["events"])


def _messages(count: int, seed: int = 7) -> list[PushMessage]:
    """``count`` messages, 30% of them redeliveries of a random earlier one."""
    rng = random.Random(seed)
    redelivered = round(count * REDELIVERED)
    kinds = [True] * (count - redelivered) + [False] * redelivered  # True: a new message
    rng.shuffle(kinds)
    kinds[kinds.index(True)], kinds[0] = kinds[0], True
    sent: list[PushMessage] = []
    out: list[PushMessage] = []
    published = T0.isoformat()
    for new in kinds:
        if new:
            n = len(sent)
            data = base64.b64encode(f'{{"n": {n}}}'.encode()).decode()
            message = PushMessage(message_id=f"msg-{n:06d}", data=data, publish_time=published)
            sent.append(message)
        else:
            message = rng.choice(sent)
        out.append(message)
    return out


@dataclass
class PushResult:
    per_second: float
    new_ms: list[float]
    redelivered_ms: list[float]


def push(backend: str, count: int) -> PushResult:
    messages = _messages(count)
    with fresh_database(backend) as url:
        instance = Instance.open(url)
        ctx = _context(instance, instance.clock)
        sensor_id = sensor_service.create(ctx, bench_push.to_spec()).resource_id
        assert sensor_id is not None
        instance.compactor.catch_up()
        _analyze(instance)
        seen: set[str] = set()
        new_ms: list[float] = []
        again_ms: list[float] = []
        started = time.perf_counter()
        for index, message in enumerate(messages, 1):
            before = time.perf_counter()
            report = sensor_service.push_message(ctx, sensor_id, message, bench_push)
            elapsed = (time.perf_counter() - before) * 1000
            if message.message_id in seen:
                _check(report.duplicate, report)
                again_ms.append(elapsed)
            else:
                _check(report.appended and len(report.run_requests) == 1, report)
                seen.add(message.message_id)
                new_ms.append(elapsed)
            if index % FOLD_EVERY == 0:
                instance.compactor.catch_up()
                _analyze(instance)
        instance.compactor.catch_up()
        wall = time.perf_counter() - started
        runs = instance.reader.count(RUNS, SCOPE)
        _check(runs == len(seen), (runs, len(seen)))
        instance.close()
    return PushResult(count / wall, new_ms, again_ms)


# --- main ------------------------------------------------------------------------------------


def _ms(values: Sequence[float]) -> str:
    return " / ".join(f"{v:.0f}" for v in values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--schedules", type=int, default=1000)
    parser.add_argument("--daemon-schedules", type=int, default=10)
    parser.add_argument("--daemon-seconds", type=float, default=20.0)
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument(
        "--push-runs", type=int, default=1, help="push is long; runs of it (median)"
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, one run: a smoke test")
    parser.add_argument(
        "--no-analyze", action="store_true", help="PostgreSQL: never gather statistics"
    )
    args = parser.parse_args()
    global ANALYZE
    ANALYZE = not args.no_analyze
    if args.quick:
        args.runs, args.push_runs = 1, 1
        args.schedules, args.daemon_seconds, args.messages = 200, 6.0, 1000
    configure_logging("WARNING")  # a line per tick would be most of what we time
    backends = args.backends.split(",")

    pure = pure_reconcile(args.schedules, max(3, args.runs))
    schedule_rows = []
    latency_rows = []
    push_rows = []
    for backend in backends:
        passes = full_pass(backend, args.schedules, args.runs)
        catchups = [catch_up(backend) for _ in range(args.runs)]
        schedule_rows.append(
            [
                backend,
                f"{pure:.0f}",
                f"{statistics.median(passes.due):.0f} ({_ms(passes.due)})",
                f"{statistics.median(passes.fold):.0f}",
                f"{statistics.median(passes.idle):.0f} ({_ms(passes.idle)})",
                f"{statistics.median(catchups) * 1000:.0f} ({_ms([c * 1000 for c in catchups])})",
            ]
        )
        print(schedule_rows[-1], file=sys.stderr, flush=True)

        committed, decided = daemon_latency(backend, args.daemon_schedules, args.daemon_seconds)
        latency_rows.append(
            [
                backend,
                str(len(committed)),
                *(f"{percentile(committed, p) * 1000:.0f}" for p in (50, 95, 99)),
                f"{max(committed) * 1000:.0f}",
                *(f"{percentile(decided, p) * 1000:.0f}" for p in (50, 99)),
            ]
        )
        print(latency_rows[-1], file=sys.stderr, flush=True)

        results = [push(backend, args.messages) for _ in range(args.push_runs)]
        best = sorted(results, key=lambda r: r.per_second)[len(results) // 2]
        push_rows.append(
            [
                backend,
                f"{args.messages:,}",
                f"{statistics.median(r.per_second for r in results):,.0f}",
                *(f"{percentile(best.new_ms, p):.1f}" for p in (50, 95, 99)),
                *(f"{percentile(best.redelivered_ms, p):.1f}" for p in (50, 95)),
            ]
        )
        print(push_rows[-1], file=sys.stderr, flush=True)

    n = f"{args.schedules:,}"
    print(header(f"Automation: schedules (median of {args.runs} runs; all runs in brackets)"))
    print(
        table(
            [
                "backend",
                f"reconcile {n}, pure (ms)",
                f"pass {n}, 1 tick due each (ms)",
                "fold of it (ms)",
                f"pass {n}, idle (ms)",
                "catch-up 100 missed ticks, 10 schedules (ms; target < 5,000)",
            ],
            schedule_rows,
        )
    )
    print(
        "\npure reconcile has no database (same number on both rows); a due pass appends"
        f" {n} ticks + {n} RunRequested, one batch per tick\n"
    )
    print(header("Automation: scheduled time → RunRequested, daemon on the wall clock"))
    print(
        table(
            [
                "backend",
                "ticks",
                "committed p50 ms",
                "p95 ms",
                "p99 ms (target < 1,000)",
                "max ms",
                "decided p50 ms",
                "decided p99 ms",
            ],
            latency_rows,
        )
    )
    print(
        f"\n{args.daemon_schedules} schedules `* * * * * *` (every second) for"
        f" {args.daemon_seconds:.0f} s; Daemon(controller_passes(None)).run_forever in a thread;"
        " committed = the tick's batch with its RunRequested committed, decided = its envelope"
        " timestamp (the pass's now)\n"
    )
    print(header(f"Automation: push sensor, single-threaded (median of {args.push_runs})"))
    print(
        table(
            [
                "backend",
                "messages (30% redelivered)",
                "messages/s",
                "new → RunRequested p50 ms",
                "p95 ms (target < 50)",
                "p99 ms",
                "redelivery p50 ms",
                "redelivery p95 ms",
            ],
            push_rows,
        )
    )
    print(
        "\none caller thread calls services.sensors.push_message per message (the sensor"
        f" function runs in the SensorExecutor thread); the compactor folds every {FOLD_EVERY:,}"
        " messages on that thread, then ANALYZE on PostgreSQL (in messages/s, not in latency)"
    )


if __name__ == "__main__":
    main()
