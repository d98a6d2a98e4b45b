"""PostgreSQL: many API servers, controllers and workers on many machines."""

from __future__ import annotations

from sqlalchemy import Connection, text

from arco.ledger.sql import SqlLedger
from arco.storage.database import prefer_index_lookups

# Any constant works; it only has to be the same for every appender of a database.
APPEND_LOCK_ID = 0x4152434F  # "ARCO"


class PostgresLedger(SqlLedger):
    """Appends serialize on a transaction-scoped advisory lock.

    The lock is released only after commit has made the rows visible, so the
    next appender reads ``max(offset)`` including them, and a reader that sees
    offset N can never later find a lower offset appear.
    """

    def _lock_for_append(self, connection: Connection) -> None:
        connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": APPEND_LOCK_ID})
        prefer_index_lookups(connection)  # the key lookups of this append
