"""Two real processes run schedule passes against one database: every tick has exactly one run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import Engine, select

from arco.clock import ManualClock
from arco.compactor import Compactor
from arco.cron import CronSchedule
from arco.fold.rows import Scope
from arco.ids import run_id_from_run_key
from arco.ledger import SqlLedger
from arco.secrets import TenantSecrets
from arco.services import ServiceContext
from arco.services.schedules import create_schedule
from arco.storage.reader import ProjectionReader
from arco.storage.schema import events, projections
from support.factories import SECRET, TENANT, WORKSPACE
from support.processes import TESTS
from support.schedules import at, spec

pytestmark = pytest.mark.slow

START = at("2024-03-10T05:00:00Z")  # New York springs forward at 07:00Z
MINUTES = 240
CRONS = [("* * * * *", "UTC"), ("*/7 * * * *", "UTC"), ("30 * * * *", "America/New_York")]


def start_daemon(url: str, compact_every: int) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]),
    }
    args = [url, START.isoformat(), MINUTES, compact_every, json.dumps({TENANT: SECRET})]
    return subprocess.Popen(
        [sys.executable, "-m", "support.schedule_child", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def finish(process: subprocess.Popen[str]) -> dict[str, int]:
    out, err = process.communicate(timeout=240)
    assert process.returncode == 0, f"schedule daemon failed ({process.returncode}):\n{err}"
    totals: dict[str, int] = json.loads(out.strip().splitlines()[-1])
    return totals


def docs(engine: Engine, name: str) -> list[dict[str, object]]:
    table = projections[name]
    with engine.connect() as connection:
        return [json.loads(doc) for doc in connection.execute(select(table.c.doc)).scalars()]


def test_two_schedule_daemons_make_exactly_one_run_per_tick(
    db_url: str, engine: Engine, ledger: SqlLedger, compactor: Compactor
) -> None:
    ctx = ServiceContext(
        scope=Scope(TENANT, WORKSPACE),
        ledger=ledger,
        reader=ProjectionReader(engine),
        secrets=TenantSecrets({TENANT: SECRET}),
        clock=ManualClock(START),
    )
    ids = {
        cron: create_schedule(ctx, spec(cron=cron, timezone=tz, max_catchup_ticks=500)).resource_id
        for cron, tz in CRONS
    }
    compactor.catch_up()
    # One daemon folds as it goes; the other never does, so it keeps reading stale cursors.
    daemons = [start_daemon(db_url, 1), start_daemon(db_url, 0)]
    totals = [finish(d) for d in daemons]
    compactor.catch_up()

    assert all(t["errors"] == 0 for t in totals)
    assert sum(t["duplicates"] for t in totals) > 0  # they really did decide the same ticks
    ticks = [t for t in docs(engine, "schedule_ticks") if t["status"] == "triggered"]
    end = START + timedelta(minutes=MINUTES, seconds=1)
    for cron, tz in CRONS:
        expected = [int(i.timestamp()) for i in CronSchedule(cron, tz).iter_between(START, end)]
        mine = sorted(
            int(str(t["scheduled_epoch"])) for t in ticks if t["schedule_id"] == ids[cron]
        )
        assert mine == expected, cron  # no tick missing, none twice

    runs = {str(r["run_id"]): r for r in docs(engine, "runs")}
    assert len(runs) == len(ticks)
    assert docs(engine, "run_key_conflicts") == []
    per_tick = Counter(str(r["source"]["tick_id"]) for r in runs.values())  # type: ignore[index]
    assert set(per_tick.values()) == {1}
    for tick in ticks:
        run_id = run_id_from_run_key(TENANT, WORKSPACE, str(tick["run_key"]), SECRET)
        assert tick["run_id"] == run_id
        assert runs[run_id]["source"]["tick_id"] == tick["tick_id"]  # type: ignore[index]
    with engine.connect() as connection:
        keys = connection.execute(select(events.c.idempotency_key)).scalars().all()
    assert len(keys) == len(set(keys))
    assert compactor.verify().ok
