"""The SQL ledger, shared by the SQLite and PostgreSQL backends.

Appends are serialized (``BEGIN IMMEDIATE`` on SQLite, an advisory transaction
lock on PostgreSQL) and offsets are assigned as ``max(offset) + 1`` under that
lock.  Serializing is what makes tailing safe: with a sequence, two concurrent
appenders could commit offsets out of order and a compactor that had already
read offset N+1 would never see a late-committing N.  Under the lock, when a
reader sees offset N every lower offset has already committed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import Connection, Engine, and_, delete, func, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from arco.clock import Clock, SystemClock
from arco.errors import StorageError
from arco.events import OrchestrationEvent, StoredEvent, stored_event_from_json
from arco.ledger.base import DEFAULT_DEDUP_TTL, Appended, AppendOutcome, Duplicate
from arco.storage.database import read_transaction, write_transaction
from arco.storage.schema import events, idempotency_keys

_KeyId = tuple[str, str, str]
_IN_CHUNK = 500  # keys per IN (...) query, well under SQLite's bound-parameter limit


class SqlLedger:
    """A :class:`~arco.ledger.base.Ledger` on a SQLAlchemy engine."""

    def __init__(
        self,
        engine: Engine,
        *,
        clock: Clock | None = None,
        dedup_ttl: timedelta = DEFAULT_DEDUP_TTL,
    ) -> None:
        self.engine = engine
        self.clock = clock or SystemClock()
        self.dedup_ttl = dedup_ttl

    def _lock_for_append(self, connection: Connection) -> None:
        """Serialize appenders; SQLite's BEGIN IMMEDIATE already did."""

    def append(self, batch: Sequence[OrchestrationEvent]) -> list[AppendOutcome]:
        if not batch:
            return []
        try:
            with write_transaction(self.engine) as connection:
                self._lock_for_append(connection)
                return self._append_locked(connection, batch)
        except SQLAlchemyError as error:
            raise StorageError(f"ledger append failed: {error}") from error

    def _append_locked(
        self, connection: Connection, batch: Sequence[OrchestrationEvent]
    ) -> list[AppendOutcome]:
        now_ms = int(self.clock.now().timestamp() * 1000)
        live = self._live_keys(connection, batch, now_ms)
        next_offset = connection.execute(select(func.coalesce(func.max(events.c.offset), 0)))
        offset = int(next_offset.scalar_one())
        outcomes: list[AppendOutcome] = []
        event_rows: list[dict[str, object]] = []
        key_rows: list[dict[str, object]] = []
        expires_at_ms = now_ms + int(self.dedup_ttl.total_seconds() * 1000)
        for event in batch:
            key_id = (event.tenant_id, event.workspace_id, event.idempotency_key)
            if key_id in live:
                outcomes.append(Duplicate(event.event_id, live[key_id]))
                continue
            offset += 1
            live[key_id] = offset
            outcomes.append(Appended(event.event_id, offset))
            event_rows.append(_event_row(offset, event))
            key_rows.append(
                {
                    "tenant_id": event.tenant_id,
                    "workspace_id": event.workspace_id,
                    "idempotency_key": event.idempotency_key,
                    "event_offset": offset,
                    "expires_at_ms": expires_at_ms,
                }
            )
        if event_rows:
            connection.execute(insert(events), event_rows)
            self._store_keys(connection, key_rows)
        return outcomes

    def _live_keys(
        self, connection: Connection, batch: Sequence[OrchestrationEvent], now_ms: int
    ) -> dict[_KeyId, int]:
        """Keys of this batch already appended and not yet expired."""
        table = idempotency_keys
        by_scope: dict[tuple[str, str], set[str]] = defaultdict(set)
        for event in batch:
            by_scope[(event.tenant_id, event.workspace_id)].add(event.idempotency_key)
        live: dict[_KeyId, int] = {}
        for (tenant, workspace), keys in by_scope.items():
            # One scope per query, so the primary key index serves the IN list.
            ordered = sorted(keys)
            for start in range(0, len(ordered), _IN_CHUNK):
                c = table.c
                query = select(
                    c.idempotency_key, c.event_offset, c.expires_at_ms, c.tenant_id, c.workspace_id
                ).where(c.idempotency_key.in_(ordered[start : start + _IN_CHUNK]))
                # Only the key list is in SQL (the primary key's leading column); scope and
                # expiry are checked here. Any other condition lets the planner of a young
                # PostgreSQL table (no statistics yet) prefer a scan that reads every key.
                live.update(
                    {
                        (tenant, workspace, key): int(offset)
                        for key, offset, expires_at, row_tenant, row_workspace in connection.execute(
                            query
                        )
                        if expires_at > now_ms
                        and (row_tenant, row_workspace) == (tenant, workspace)
                    }
                )
        # An event redelivered after its key expired is still the same event.
        by_id = {e.event_id: (e.tenant_id, e.workspace_id, e.idempotency_key) for e in batch}
        ids = sorted(by_id)
        for start in range(0, len(ids), _IN_CHUNK):
            query = select(events.c.event_id, events.c.offset).where(
                events.c.event_id.in_(ids[start : start + _IN_CHUNK])
            )
            live.update({by_id[r[0]]: int(r[1]) for r in connection.execute(query)})
        return live

    def _store_keys(self, connection: Connection, key_rows: list[dict[str, object]]) -> None:
        """Insert new keys; an expired row for the same key is overwritten."""
        dialect = sqlite if connection.dialect.name == "sqlite" else postgresql
        statement = dialect.insert(idempotency_keys)
        statement = statement.on_conflict_do_update(
            index_elements=["tenant_id", "workspace_id", "idempotency_key"],
            set_={
                "event_offset": statement.excluded.event_offset,
                "expires_at_ms": statement.excluded.expires_at_ms,
            },
        )
        connection.execute(statement, key_rows)

    def read(
        self,
        after_offset: int = 0,
        limit: int = 1000,
        *,
        tenant_id: str | None = None,
        workspace_id: str | None = None,
    ) -> list[StoredEvent]:
        query = select(events.c.offset, events.c.body).where(events.c.offset > after_offset)
        if tenant_id is not None:
            query = query.where(events.c.tenant_id == tenant_id)
        if workspace_id is not None:
            query = query.where(events.c.workspace_id == workspace_id)
        query = query.order_by(events.c.offset).limit(limit)
        with read_transaction(self.engine) as connection:
            rows = connection.execute(query).all()
        return [stored_event_from_json(int(offset), body) for offset, body in rows]

    def read_raw(self, after_offset: int, limit: int) -> list[tuple[int, str]]:
        """(offset, JSON envelope) pairs, for tools that want the bytes as stored."""
        query = (
            select(events.c.offset, events.c.body)
            .where(events.c.offset > after_offset)
            .order_by(events.c.offset)
            .limit(limit)
        )
        with read_transaction(self.engine) as connection:
            return [(int(o), str(b)) for o, b in connection.execute(query)]

    def head(self) -> int:
        with read_transaction(self.engine) as connection:
            result = connection.execute(select(func.coalesce(func.max(events.c.offset), 0)))
            return int(result.scalar_one())

    def prune_expired_keys(self) -> int:
        now_ms = int(self.clock.now().timestamp() * 1000)
        with write_transaction(self.engine) as connection:
            result = connection.execute(
                delete(idempotency_keys).where(idempotency_keys.c.expires_at_ms <= now_ms)
            )
            return int(result.rowcount)

    def find_by_key(self, tenant_id: str, workspace_id: str, key: str) -> StoredEvent | None:
        """The event appended under ``key`` (whether or not its dedup entry expired)."""
        query = (
            select(events.c.offset, events.c.body)
            .where(
                and_(
                    events.c.tenant_id == tenant_id,
                    events.c.workspace_id == workspace_id,
                    events.c.idempotency_key == key,
                )
            )
            .order_by(events.c.offset.desc())
            .limit(1)
        )
        with read_transaction(self.engine) as connection:
            row = connection.execute(query).first()
        return None if row is None else stored_event_from_json(int(row[0]), row[1])


def _event_row(offset: int, event: OrchestrationEvent) -> dict[str, object]:
    return {
        "offset": offset,
        "event_id": event.event_id,
        "tenant_id": event.tenant_id,
        "workspace_id": event.workspace_id,
        "event_type": event.event_type,
        "event_version": event.event_version,
        "idempotency_key": event.idempotency_key,
        "correlation_id": event.correlation_id,
        "timestamp": event.timestamp.isoformat(),
        "body": event.to_json(),
    }


__all__ = ["SqlLedger"]
