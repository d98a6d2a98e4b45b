"""Partition status in SQL: the display-status rules of :mod:`arco.partitions.status`
as one CASE expression, so that counting an asset's 100k partitions is one aggregate
query over indexed columns instead of 100k documents loaded into Python.

Timestamps are compared as text: the fold writes every instant in one fixed-width
UTC format (``iso()``), whose lexicographic order is chronological order.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, and_, case, exists, false, func, or_, select
from sqlalchemy.sql.elements import ColumnElement

from arco.fold.context import iso
from arco.fold.rows import Doc, Scope
from arco.fold.tables import PARTITION_STATUS
from arco.partitions.status import AssetInfo, DisplayStatus, StaleReason
from arco.storage.database import read_transaction
from arco.storage.schema import projections

_IN_CHUNK = 500
_TABLE = projections[PARTITION_STATUS.name]


@dataclass(frozen=True)
class RowCounts:
    """Counts over the asset's existing rows (keys without a row are not here)."""

    by_status: dict[DisplayStatus, int]
    by_reason: dict[StaleReason, int]
    last_attempt_failed: int


def latest_materialization(engine: Engine, scope: Scope, asset_keys: Sequence[str]) -> str | None:
    """The latest ``last_materialization_at`` over every partition of ``asset_keys``."""
    if not asset_keys:
        return None
    statement = select(func.max(_TABLE.c.last_materialization_at)).where(
        *_scoped(scope), _TABLE.c.asset_key.in_(list(asset_keys))
    )
    with read_transaction(engine) as connection:
        value = connection.execute(statement).scalar_one_or_none()
    return None if value is None else str(value)


class StatusSql:
    """The status rules of one asset at ``now``, as SQL expressions over ``partition_status``."""

    def __init__(self, engine: Engine, scope: Scope, asset: AssetInfo, now: datetime) -> None:
        self.engine = engine
        self.scope = scope
        self.asset = asset
        self._latest_all = latest_materialization(engine, scope, asset.all_upstreams)
        t = _TABLE
        materialized_at = t.c.last_materialization_at
        self.materialized = materialized_at.is_not(None)
        self.in_progress = t.c.in_progress.is_(True)
        self.failed = t.c.last_attempt_outcome == "failed"
        lag = asset.maximum_lag
        self.fresh_stale = materialized_at < iso(now - lag) if lag is not None else false()
        code = asset.code_version
        self.code_stale: ColumnElement[bool] = (
            or_(
                t.c.last_materialization_code_version.is_(None),
                t.c.last_materialization_code_version != code,
            )
            if code is not None
            else false()
        )
        self.upstream_stale = or_(self._identity_upstream(), self._all_upstream())
        self.stale = and_(
            self.materialized, or_(self.fresh_stale, self.upstream_stale, self.code_stale)
        )
        self.status = case(
            (self.in_progress, DisplayStatus.IN_PROGRESS.value),
            (~self.materialized, DisplayStatus.NEVER_MATERIALIZED.value),
            (self.failed, DisplayStatus.MATERIALIZED_LAST_ATTEMPT_FAILED.value),
            (self.stale, DisplayStatus.STALE.value),
            else_=DisplayStatus.MATERIALIZED.value,
        )

    def _identity_upstream(self) -> ColumnElement[bool]:
        keys = self.asset.identity_upstreams
        if not keys:
            return false()
        upstream = _TABLE.alias("upstream")
        return exists().where(
            upstream.c.tenant_id == _TABLE.c.tenant_id,
            upstream.c.workspace_id == _TABLE.c.workspace_id,
            upstream.c.asset_key.in_(list(keys)),
            upstream.c.partition_key == _TABLE.c.partition_key,
            upstream.c.last_materialization_at > _TABLE.c.last_materialization_at,
        )

    def _all_upstream(self) -> ColumnElement[bool]:
        # "All partitions" upstreams are one number: the latest of their materializations.
        if self._latest_all is None:
            return false()
        return _TABLE.c.last_materialization_at < self._latest_all

    def counts(self) -> RowCounts:
        """Every row of the asset counted by display status and staleness reason.

        One scan of the covering index and one result row: each partition becomes six
        0/1 flags and SQL sums the combinations that make each status, in the precedence
        of :func:`~arco.partitions.status.classify`.  (A GROUP BY over the flags sorts
        every row and costs twice as much.)  Identity upstreams are joined as one
        "latest upstream materialization per key" relation, so each row is compared
        once instead of probing the index per row and per reason.
        """
        t = _TABLE
        newer_upstream: ColumnElement[bool] = false()
        source: Any = t
        keys = self.asset.identity_upstreams
        if keys:
            upstream = _TABLE.alias("upstream")
            latest = (
                select(
                    upstream.c.partition_key.label("key"),
                    func.max(upstream.c.last_materialization_at).label("at"),
                )
                .where(*_scoped(self.scope, upstream), upstream.c.asset_key.in_(list(keys)))
                .group_by(upstream.c.partition_key)
                .subquery("latest_upstream")
            )
            source = t.outerjoin(latest, latest.c.key == t.c.partition_key)
            newer_upstream = latest.c.at > t.c.last_materialization_at
        flags = (
            select(
                _flag(self.in_progress).label("p"),
                _flag(self.materialized).label("m"),
                _flag(self.failed).label("f"),
                _flag(self.fresh_stale).label("fr"),
                _flag(self.code_stale).label("c"),
                _flag(or_(newer_upstream, self._all_upstream())).label("u"),
            )
            .select_from(source)
            .where(*self._rows())
            .subquery("flags")
        )
        p, m, f, fr, c, u = (flags.c[name] == 1 for name in ("p", "m", "f", "fr", "c", "u"))
        idle_materialized = and_(~p, m)
        statement = select(
            func.count(),
            _sum(p),
            _sum(and_(~p, ~m)),
            _sum(and_(idle_materialized, f)),
            _sum(and_(idle_materialized, ~f, or_(fr, c, u))),
            _sum(and_(m, fr)),
            _sum(and_(m, u)),
            _sum(and_(m, c)),
            _sum(~m),
            _sum(f),
        )
        with read_transaction(self.engine) as connection:
            if connection.dialect.name == "postgresql":
                # Without fresh statistics PostgreSQL estimates the asset's rows at a
                # handful and nests a loop over the upstream relation: minutes for 100k
                # partitions.  A hash join is right at every size this query sees.
                connection.exec_driver_sql("SET LOCAL enable_nestloop = off")
            row = connection.execute(statement).one()
        total, busy, never, failed, stale, fresh, upstream_newer, code, unmaterialized, tries = (
            int(value or 0) for value in row
        )
        by_status = {
            DisplayStatus.IN_PROGRESS: busy,
            DisplayStatus.NEVER_MATERIALIZED: never,
            DisplayStatus.MATERIALIZED_LAST_ATTEMPT_FAILED: failed,
            DisplayStatus.STALE: stale,
            DisplayStatus.MATERIALIZED: total - busy - never - failed - stale,
        }
        by_reason = {
            StaleReason.FRESHNESS_POLICY: fresh,
            StaleReason.UPSTREAM_CHANGED: upstream_newer,
            StaleReason.CODE_CHANGED: code,
            StaleReason.NEVER_MATERIALIZED: unmaterialized,
        }
        return RowCounts(by_status, by_reason, tries)

    def page(
        self,
        *,
        statuses: Collection[DisplayStatus] = (),
        stale_only: bool = False,
        after_key: str | None = None,
        limit: int = 100,
    ) -> list[Doc]:
        """Rows with one of ``statuses`` (or stale ones) in partition-key order."""
        filters = list(self._rows())
        if statuses:
            filters.append(self.status.in_([status.value for status in statuses]))
        if stale_only:
            filters.append(self.stale)
        if after_key is not None:
            filters.append(_TABLE.c.partition_key > after_key)
        statement = (
            select(_TABLE.c.doc).where(*filters).order_by(_TABLE.c.partition_key).limit(limit)
        )
        with read_transaction(self.engine) as connection:
            return [_loads(doc) for doc in connection.execute(statement).scalars()]

    def _rows(self) -> list[ColumnElement[bool]]:
        return [*_scoped(self.scope), _TABLE.c.asset_key == self.asset.asset_key]


def rows_for_keys(
    engine: Engine, scope: Scope, asset_keys: Sequence[str], partition_keys: Sequence[str]
) -> list[Doc]:
    """The rows of ``asset_keys`` × ``partition_keys`` that exist."""
    if not asset_keys or not partition_keys:
        return []
    found: list[Doc] = []
    keys = list(dict.fromkeys(partition_keys))
    with read_transaction(engine) as connection:
        for start in range(0, len(keys), _IN_CHUNK):
            statement = select(_TABLE.c.doc).where(
                *_scoped(scope),
                _TABLE.c.asset_key.in_(list(asset_keys)),
                _TABLE.c.partition_key.in_(keys[start : start + _IN_CHUNK]),
            )
            found += [_loads(doc) for doc in connection.execute(statement).scalars()]
    return found


def _scoped(scope: Scope, table: Any = _TABLE) -> list[ColumnElement[bool]]:
    return [table.c.tenant_id == scope.tenant_id, table.c.workspace_id == scope.workspace_id]


def _flag(condition: ColumnElement[bool]) -> Any:
    """1 or 0, never NULL (a NULL comparison counts as false, and NOT of it stays false)."""
    return case((condition, 1), else_=0)


def _sum(condition: ColumnElement[bool]) -> Any:
    return func.coalesce(func.sum(_flag(condition)), 0)


def _loads(doc: str) -> Doc:
    loaded: Doc = json.loads(doc)
    return loaded
