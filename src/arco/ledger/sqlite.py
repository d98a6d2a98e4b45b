"""The embedded default: one SQLite file in WAL mode under the data directory."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from arco.clock import Clock
from arco.ledger.base import DEFAULT_DEDUP_TTL
from arco.ledger.sql import SqlLedger
from arco.storage.database import open_engine, sqlite_url


class SqliteLedger(SqlLedger):
    """Appends serialize on SQLite's write lock (``BEGIN IMMEDIATE``), across processes."""

    @classmethod
    def in_directory(
        cls,
        data_dir: Path | str,
        *,
        clock: Clock | None = None,
        dedup_ttl: timedelta = DEFAULT_DEDUP_TTL,
    ) -> SqliteLedger:
        return cls(open_engine(sqlite_url(data_dir)), clock=clock, dedup_ttl=dedup_ttl)
