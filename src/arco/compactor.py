"""The compactor: fold ledger events into projections, one transaction per batch.

A batch reads events after the watermark, folds them through the pure fold,
and commits the changed rows together with the new watermark.  A crash anywhere
rolls the whole batch back, and the next run redoes it from the old watermark
with the same result.  Two compactors may run at once: the watermark row is
locked for the batch, so the second waits and then continues after the first.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Connection, Engine, insert, select, update

from arco import metrics
from arco.fold.apply import apply_event, rows_needed
from arco.fold.rows import combined_digest
from arco.fold.tables import RUN_KEY_CONFLICTS
from arco.ledger.sql import SqlLedger
from arco.logs import get_logger
from arco.storage.database import (
    open_engine,
    prefer_index_lookups,
    read_transaction,
    sqlite_url,
    write_transaction,
)
from arco.storage.migrate import upgrade
from arco.storage.projections import BatchRows, clear_projections, table_digests
from arco.storage.schema import watermarks

WATERMARK = "projections"
DEFAULT_BATCH = 1000


@dataclass(frozen=True)
class BatchResult:
    folded: int
    watermark: int
    unknown: int = 0


@dataclass(frozen=True)
class VerifyResult:
    watermark: int
    live_digest: str
    rebuilt_digest: str
    differing_tables: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.live_digest == self.rebuilt_digest


class Compactor:
    """Folds ``ledger`` into the projection tables of ``engine``."""

    def __init__(
        self, ledger: SqlLedger, engine: Engine | None = None, *, observe: bool = True
    ) -> None:
        self.ledger = ledger
        self.engine = engine or ledger.engine
        # A scratch compactor (verify) folds history again: it must not count it again.
        self.observe = observe
        self.log = get_logger("compactor")

    def watermark(self) -> int:
        with read_transaction(self.engine) as connection:
            return _read_watermark(connection)

    def run_once(self, limit: int = DEFAULT_BATCH, *, up_to: int | None = None) -> BatchResult:
        """Fold at most ``limit`` events (and none past ``up_to``) in one transaction."""
        with write_transaction(self.engine) as connection:
            start = _lock_watermark(connection)
            batch = self.ledger.read(after_offset=start, limit=limit)
            if up_to is not None:
                batch = [event for event in batch if event.offset <= up_to]
            if not batch:
                return BatchResult(0, start)
            prefer_index_lookups(connection)  # the batch's row lookups
            rows = BatchRows(connection)
            rows.prefetch(needed for event in batch for needed in rows_needed(event))
            unknown = 0
            for event in batch:
                outcome = apply_event(rows, event)
                unknown += 0 if event.known else 1
                for warning in outcome.warnings:
                    self.log.warning(
                        "fold_warning",
                        warning=warning,
                        offset=event.offset,
                        event_id=event.event_id,
                        event_type=event.event_type,
                        tenant_id=event.tenant_id,
                        workspace_id=event.workspace_id,
                    )
            if self.observe:
                self._report_conflicts(rows)
            rows.flush()
            end = batch[-1].offset
            connection.execute(
                update(watermarks).where(watermarks.c.name == WATERMARK).values(event_offset=end)
            )
        if self.observe:
            metrics.EVENTS_FOLDED.inc(len(batch))
            metrics.UNKNOWN_EVENTS.inc(unknown)
        return BatchResult(len(batch), end, unknown)

    def _report_conflicts(self, rows: BatchRows) -> None:
        """Run-key conflicts are found by the fold; say so where operators look."""
        for _table, tenant, workspace, pk in rows.created(RUN_KEY_CONFLICTS.name):
            metrics.RUN_KEY_CONFLICTS.inc()
            self.log.warning(
                "run_key_conflict", tenant_id=tenant, workspace_id=workspace, conflict=pk
            )

    def catch_up(self, limit: int = DEFAULT_BATCH, *, up_to: int | None = None) -> int:
        """Fold until the watermark reaches the ledger head (or ``up_to``)."""
        total = 0
        while True:
            result = self.run_once(limit, up_to=up_to)
            total += result.folded
            if result.folded == 0:
                metrics.COMPACTION_LAG.set(max(0, self.ledger.head() - result.watermark))
                return total

    def lag(self) -> int:
        return max(0, self.ledger.head() - self.watermark())

    def digests(self) -> tuple[int, dict[str, str]]:
        """(watermark, per-table digests) read from one snapshot."""
        with read_transaction(self.engine) as connection:
            return _read_watermark(connection), table_digests(connection)

    def rebuild(self, limit: int = DEFAULT_BATCH) -> int:
        """Clear every projection and fold the whole ledger again."""
        with write_transaction(self.engine) as connection:
            _lock_watermark(connection)
            clear_projections(connection)
            connection.execute(
                update(watermarks).where(watermarks.c.name == WATERMARK).values(event_offset=0)
            )
        self.log.info("rebuild_started")
        return self.catch_up(limit)

    def verify(self, scratch_dir: Path | None = None) -> VerifyResult:
        """Rebuild from offset 0 into a scratch store and compare digests with the live one."""
        watermark, live = self.digests()
        with tempfile.TemporaryDirectory(dir=scratch_dir) as scratch:
            engine = open_engine(sqlite_url(scratch))
            try:
                upgrade(engine)
                scratch_compactor = Compactor(self.ledger, engine, observe=False)
                scratch_compactor.catch_up(up_to=watermark)
                _, rebuilt = scratch_compactor.digests()
            finally:
                engine.dispose()
        differing = [name for name in sorted(live) if live[name] != rebuilt.get(name)]
        return VerifyResult(watermark, combined_digest(live), combined_digest(rebuilt), differing)


def _read_watermark(connection: Connection) -> int:
    query = select(watermarks.c.event_offset).where(watermarks.c.name == WATERMARK)
    value = connection.execute(query).scalar_one_or_none()
    return 0 if value is None else int(value)


def _lock_watermark(connection: Connection) -> int:
    """Read the watermark, locking its row so concurrent compactors take turns."""
    query = select(watermarks.c.event_offset).where(watermarks.c.name == WATERMARK)
    if connection.dialect.name != "sqlite":  # SQLite's BEGIN IMMEDIATE already locks
        query = query.with_for_update()
    value = connection.execute(query).scalar_one_or_none()
    if value is None:
        connection.execute(insert(watermarks).values(name=WATERMARK, event_offset=0))
        return 0
    return int(value)
