"""The append-only ledger: one contract, SQLite and PostgreSQL backends."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine

from arco.clock import Clock
from arco.ledger.base import DEFAULT_DEDUP_TTL, Appended, AppendOutcome, Duplicate, Ledger
from arco.ledger.postgres import PostgresLedger
from arco.ledger.sql import SqlLedger
from arco.ledger.sqlite import SqliteLedger
from arco.storage.database import is_sqlite


def ledger_for(
    engine: Engine, *, clock: Clock | None = None, dedup_ttl: timedelta = DEFAULT_DEDUP_TTL
) -> SqlLedger:
    """The ledger backend matching ``engine``'s dialect."""
    cls = SqliteLedger if is_sqlite(engine) else PostgresLedger
    return cls(engine, clock=clock, dedup_ttl=dedup_ttl)


__all__ = [
    "DEFAULT_DEDUP_TTL",
    "AppendOutcome",
    "Appended",
    "Duplicate",
    "Ledger",
    "PostgresLedger",
    "SqlLedger",
    "SqliteLedger",
    "ledger_for",
]
