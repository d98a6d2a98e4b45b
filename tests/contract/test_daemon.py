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
