"""Several real processes append and fold at once: nothing lost, nothing twice."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, func, select

from arco.compactor import Compactor
from arco.ledger import SqlLedger
from arco.storage.schema import events, projections
from support.processes import start_child, wait_ok

WORKERS, BATCHES, SIZE, KEY_SPACE = 4, 25, 20, 900


def expected_keys() -> set[str]:
    return {
        f"k{(w * 7919 + b * SIZE + i) % KEY_SPACE}"
        for w in range(WORKERS)
        for b in range(BATCHES)
        for i in range(SIZE)
    }


def test_four_appending_processes_lose_and_duplicate_nothing(
    db_url: str, engine: Engine, ledger: SqlLedger
) -> None:
    children = [start_child("append", db_url, w, BATCHES, SIZE, KEY_SPACE) for w in range(WORKERS)]
    for child in children:
        wait_ok(child)
    with engine.connect() as connection:
        offsets = (
            connection.execute(select(events.c.offset).order_by(events.c.offset)).scalars().all()
        )
        keys = connection.execute(select(events.c.idempotency_key)).scalars().all()
    assert offsets == list(range(1, len(offsets) + 1))  # gapless, no offset twice
    assert len(keys) == len(set(keys))  # no key twice
    assert {e.data.run_key for e in ledger.read(limit=10_000)} == expected_keys()  # type: ignore[union-attr]


def test_a_compactor_running_alongside_appenders_never_skips_a_late_commit(
    db_url: str, engine: Engine, ledger: SqlLedger, tmp_path: Path
) -> None:
    stop = tmp_path / "stop"
    compactor_process = start_child("compact", db_url, 50, stop)
    appenders = [start_child("append", db_url, w, BATCHES, SIZE, KEY_SPACE) for w in range(3)]
    for child in appenders:
        wait_ok(child)
    stop.touch()
    wait_ok(compactor_process)
    compactor = Compactor(ledger)
    assert compactor.watermark() == ledger.head()  # the child folded everything
    with engine.connect() as connection:
        runs = connection.execute(select(func.count()).select_from(projections["runs"])).scalar()
    assert runs == ledger.head()
    assert compactor.verify().ok
