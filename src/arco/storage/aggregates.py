"""Counts and sums over projection columns, grouped in SQL (never by loading docs).

The backfill read side and controller count chunk rows by state this way: the
execution fold finishes chunks, so their tallies are read from the rows, not kept.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, func, select

from arco.errors import ValidationError
from arco.fold.rows import Scope
from arco.fold.tables import ProjectionTable
from arco.storage.database import read_transaction
from arco.storage.schema import projections

_IN_CHUNK = 500


@dataclass(frozen=True)
class Totals:
    count: int
    total: int = 0


def group_totals(
    engine: Engine,
    table: ProjectionTable,
    scope: Scope,
    *,
    by: Sequence[str],
    where: Mapping[str, object] | None = None,
    where_in: tuple[str, Sequence[object]] | None = None,
    sum_of: str | None = None,
) -> dict[tuple[object, ...], Totals]:
    """Row counts (and the sum of ``sum_of``) per distinct value of the ``by`` columns."""
    sql = projections[table.name]
    groups = [_column(sql, name) for name in by]
    summed = func.coalesce(func.sum(_column(sql, sum_of)), 0) if sum_of else func.count()
    base = [sql.c.tenant_id == scope.tenant_id, sql.c.workspace_id == scope.workspace_id]
    for name, value in (where or {}).items():
        column = _column(sql, name)
        base.append(column.is_(None) if value is None else column == value)
    batches: list[Sequence[object] | None] = [None]
    if where_in is not None:
        values = list(where_in[1])
        batches = [values[i : i + _IN_CHUNK] for i in range(0, len(values), _IN_CHUNK)]
    result: dict[tuple[object, ...], Totals] = {}
    with read_transaction(engine) as connection:
        for batch in batches:
            filters = list(base)
            if batch is not None and where_in is not None:
                filters.append(_column(sql, where_in[0]).in_(batch))
            statement = select(*groups, func.count(), summed).where(*filters).group_by(*groups)
            for row in connection.execute(statement):
                key = tuple(row[: len(groups)])
                count, total = int(row[-2]), int(row[-1]) if sum_of else 0
                previous = result.get(key, Totals(0, 0))
                result[key] = Totals(previous.count + count, previous.total + total)
    return result


def _column(sql: Any, name: str) -> Any:
    if name not in sql.c or name in ("doc", "row_version"):
        allowed = [c.name for c in sql.columns if c.name not in ("doc", "row_version")]
        raise ValidationError(f"cannot group or sum on {name!r}", field=name, allowed=allowed)
    return sql.c[name]
