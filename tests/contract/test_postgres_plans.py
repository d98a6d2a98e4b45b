"""Key-list lookups stay on their index on PostgreSQL, statistics or not.

Without statistics (a young table, or a server with autovacuum off) PostgreSQL
guesses that each key of ``key IN (…)`` matches 0.5% of the rows, so a list of
50 keys looks like a quarter of the table and it scans all of it: appends and
folds then slow down with every row the table grows (seen: 1.4 s per lookup at
270k keys). The ledger's append and the compactor's batch transactions ask for
index lookups.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, event, select

from arco.compactor import Compactor
from arco.ledger import SqlLedger, ledger_for
from arco.storage.database import open_engine, prefer_index_lookups, write_transaction
from arco.storage.migrate import upgrade
from arco.storage.schema import idempotency_keys
from support.databases import postgres_schema, postgres_url
from support.factories import envelope, run_requested

# A PostgreSQL planner question (SQLite has no such choice); CI always sets the URL.
pytestmark = pytest.mark.skipif(postgres_url() is None, reason="needs ARCO_TEST_POSTGRES_URL")


@pytest.fixture
def pg_engine() -> Iterator[Engine]:
    with postgres_schema() as url:
        engine = open_engine(url)
        upgrade(engine)
        yield engine
        engine.dispose()


def _plan(engine: Engine, prefer: bool) -> str:
    keys = [f"k{i}" for i in range(100)]
    query = select(idempotency_keys.c.event_offset).where(
        idempotency_keys.c.idempotency_key.in_(keys)
    )
    with write_transaction(engine) as connection:
        if prefer:
            prefer_index_lookups(connection)
        compiled = query.compile(connection, compile_kwargs={"literal_binds": True})
        rows = connection.exec_driver_sql(f"EXPLAIN {compiled}").scalars().all()
    return "\n".join(rows)


def test_a_key_list_lookup_uses_the_index_without_statistics(pg_engine: Engine) -> None:
    ledger, engine = ledger_for(pg_engine), pg_engine
    for start in range(0, 5_000, 500):
        ledger.append([envelope(run_requested(f"r{i}")) for i in range(start, start + 500)])
    assert "Seq Scan" in _plan(engine, prefer=False)  # what the guess alone picks
    assert "Seq Scan" not in _plan(engine, prefer=True)


def test_appends_and_folds_ask_for_index_lookups(pg_engine: Engine) -> None:
    engine = pg_engine
    ledger: SqlLedger = ledger_for(engine)
    compactor = Compactor(ledger)
    seen: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *a: seen.append(str(a[2])))
    ledger.append([envelope(run_requested("a"))])
    compactor.catch_up()
    settings = [s for s in seen if "enable_seqscan" in s]
    assert len(settings) == 2, seen
