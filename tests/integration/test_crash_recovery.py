"""SIGKILL a real appender mid-append and a real compactor mid-batch, then restart."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from sqlalchemy import Engine, func, select

from arco.compactor import Compactor
from arco.ledger import SqlLedger
from arco.storage.schema import events, projections
from support.factories import envelope, run_requested
from support.processes import start_child, wait_ok

BATCH = 2000


def kill(process: subprocess.Popen[str]) -> None:
    os.kill(process.pid, signal.SIGKILL)
    process.communicate()  # reap it and close its pipes
    assert process.returncode == -signal.SIGKILL


def count(engine: Engine, table: object) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


def test_appender_killed_mid_append_leaves_whole_batches_only(
    db_url: str, engine: Engine, ledger: SqlLedger
) -> None:
    # Worker 0 with a key space larger than all keys: every event is distinct.
    batches = 12
    child = start_child("append", db_url, 0, batches, BATCH, 10**9)
    assert child.stdout is not None
    assert child.stdout.readline().startswith("committed 0")
    time.sleep(0.05)  # well inside the next batch's transaction
    kill(child)
    appended = count(engine, events)
    assert appended % BATCH == 0, f"half a batch survived: {appended}"
    assert BATCH <= appended < batches * BATCH
    # Restarting re-sends every batch: the committed ones are dropped as duplicates.
    wait_ok(start_child("append", db_url, 0, batches, BATCH, 10**9))
    assert count(engine, events) == batches * BATCH
    with engine.connect() as connection:
        keys = connection.execute(select(events.c.idempotency_key)).scalars().all()
    assert len(set(keys)) == batches * BATCH


def test_compactor_killed_mid_batch_redoes_it_from_the_old_watermark(
    db_url: str, engine: Engine, ledger: SqlLedger, tmp_path: Path
) -> None:
    total = 24_000
    for start in range(0, total, 4000):
        ledger.append([envelope(run_requested(f"k{i}")) for i in range(start, start + 4000)])
    compactor = Compactor(ledger)
    kills = 0
    while kills < 3:
        child = start_child("compact", db_url, 3000, tmp_path / "never")
        assert child.stdout is not None
        child.stdout.readline()  # one batch committed; the next is being folded
        time.sleep(0.1)
        kill(child)
        kills += 1
        watermark = compactor.watermark()
        folded_runs = count(engine, projections["runs"])
        assert folded_runs == watermark, "rows and watermark must commit together"
        assert 0 < watermark < total
    assert compactor.catch_up() == total - compactor.watermark() or compactor.lag() == 0
    assert count(engine, projections["runs"]) == total
    assert compactor.verify().ok
