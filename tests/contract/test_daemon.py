"""The daemon loop: passes run on fresh projections, a broken pass is isolated."""

from __future__ import annotations

from datetime import datetime, timedelta

from arco.clock import ManualClock
from arco.runtime.daemon import Daemon
from arco.runtime.env import PassReport, RuntimeEnv
from arco.runtime.instance import Instance
from arco.secrets import TenantSecrets
from support.factories import T0, envelope, run_requested


def test_passes_see_what_earlier_passes_appended_and_failures_are_isolated(db_url: str) -> None:
    instance = Instance.open(db_url, clock=ManualClock(T0))
    env = instance.runtime_env(TenantSecrets({"acme": "s"}))
    seen: list[int] = []

    def appender(env: RuntimeEnv, now: datetime) -> PassReport:
        report = PassReport("appender", next_due=now + timedelta(seconds=5))
        report.record(env.append([envelope(run_requested("k"), at=now)]))
        return report

    def broken(env: RuntimeEnv, now: datetime) -> PassReport:
        raise RuntimeError("database on fire")

    def reader(env: RuntimeEnv, now: datetime) -> PassReport:
        seen.append(env.reader.watermark())
        return PassReport("reader", next_due=now + timedelta(seconds=1))

    daemon = Daemon(
        env, instance.compactor, [("appender", appender), ("broken", broken), ("reader", reader)]
    )
    reports = daemon.run_once()
    assert [r.controller for r in reports] == ["appender", "broken", "reader"]
    assert reports[1].errors == 1
    assert seen == [1]  # the reader pass ran after the compactor folded the append
    assert daemon.seconds_until_next(reports, T0) == 1.0
    assert daemon.seconds_until_next([], T0) == daemon.interval
    # A second pass at the same instant appends a duplicate, nothing new.
    assert daemon.run_once()[0].duplicates == 1
    instance.close()


def test_a_sleeping_daemon_wakes_when_another_process_appends(db_url: str) -> None:
    import threading
    import time

    instance = Instance.open(db_url)
    env = instance.runtime_env(TenantSecrets({"acme": "s"}))
    passes: list[float] = []

    def counter(env: RuntimeEnv, now: datetime) -> PassReport:
        passes.append(time.monotonic())
        return PassReport("counter")

    daemon = Daemon(env, instance.compactor, [("counter", counter)], interval=30.0)
    stop = threading.Event()
    thread = threading.Thread(target=daemon.run_forever, args=(stop,))
    thread.start()
    try:
        deadline = time.monotonic() + 5
        while not passes and time.monotonic() < deadline:
            time.sleep(0.01)
        appended_at = time.monotonic()
        instance.ledger.append([envelope(run_requested("from-elsewhere"))])
        while len(passes) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(passes) >= 2, "the daemon slept through a new event"
        assert passes[1] - appended_at < 2.0  # far less than the 30 s interval
    finally:
        stop.set()
        daemon.wake.set()
        thread.join(timeout=5)
        instance.close()
