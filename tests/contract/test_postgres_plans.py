"""Key-list lookups stay on their index on PostgreSQL, statistics or not.

Without statistics (a young table, or a server with autovacuum off) PostgreSQL
guesses that each key of ``key IN (…)`` matches 0.5% of the rows, so a list of
50 keys looks like a quarter of the table and it scans all of it: appends and
folds then slow down with every row the table grows (seen: 1.4 s per lookup at
270k keys). The ledger's append and the compactor's batch transactions ask for
index lookups.
"""

from __future__ import annotations

from sqlalchemy import Engine, event, select

from arco.compactor import Compactor
from arco.ledger import SqlLedger
from arco.storage.database import prefer_index_lookups, write_transaction
from arco.storage.schema import idempotency_keys
from support.factories import envelope, run_requested


def _plan(engine: Engine, prefer: bool) -> str:
    keys = [f"k{i}" for i in range(100)]
    query = select(idempotency_keys.c.event_offset).where(
        idempotency_keys.c.idempotency_key.in_(keys)
    )
    explain = "EXPLAIN QUERY PLAN" if engine.dialect.name == "sqlite" else "EXPLAIN"
    with write_transaction(engine) as connection:
        if prefer:
            prefer_index_lookups(connection)
        compiled = query.compile(connection, compile_kwargs={"literal_binds": True})
        rows = connection.exec_driver_sql(f"{explain} {compiled}").all()
    return "\n".join(str(row[-1]) for row in rows)


def test_a_key_list_lookup_uses_the_index_without_statistics(
    backend: str, ledger: SqlLedger, engine: Engine
) -> None:
    for start in range(0, 5_000, 500):
        ledger.append([envelope(run_requested(f"r{i}")) for i in range(start, start + 500)])
    if backend == "postgres":
        assert "Seq Scan" in _plan(engine, prefer=False)  # what the guess alone picks
        assert "Seq Scan" not in _plan(engine, prefer=True)
    else:
        assert "USING" in _plan(engine, prefer=True)  # SQLite: "SEARCH … USING … INDEX"


def test_appends_and_folds_ask_for_index_lookups(
    backend: str, ledger: SqlLedger, compactor: Compactor, engine: Engine
) -> None:
    seen: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *a: seen.append(str(a[2])))
    ledger.append([envelope(run_requested("a"))])
    compactor.catch_up()
    settings = [s for s in seen if "enable_seqscan" in s]
    assert len(settings) == (2 if backend == "postgres" else 0), seen
