"""ProjectionReader on every backend: lookups, filters, cursor pagination, scopes."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from arco.compactor import Compactor
from arco.errors import ValidationError
from arco.fold.rows import Scope
from arco.fold.tables import RUNS
from arco.ledger import SqlLedger
from arco.storage.reader import ProjectionReader, Query
from support.factories import envelope, run_requested

ACME = Scope("acme", "prod")


@pytest.fixture
def reader(ledger: SqlLedger, compactor: Compactor, engine: Engine) -> ProjectionReader:
    ledger.append([envelope(run_requested(f"k{i:02d}"), seconds=i) for i in range(25)])
    ledger.append([envelope(run_requested("g", tenant="globex"), tenant="globex")])
    compactor.catch_up()
    return ProjectionReader(engine)


def test_pages_walk_every_row_once_in_order(reader: ProjectionReader) -> None:
    seen: list[str] = []
    cursor = None
    query = Query(order_by="requested_at", descending=True)
    while True:
        page = reader.page(RUNS, ACME, query, cursor=cursor, limit=7)
        seen += [str(doc["run_key"]) for doc in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == [f"k{i:02d}" for i in reversed(range(25))]


def test_filters_and_counts_stay_inside_the_scope(reader: ProjectionReader) -> None:
    assert reader.count(RUNS, ACME) == 25
    assert reader.count(RUNS, Scope("globex", "prod")) == 1
    assert reader.count(RUNS, None) == 26
    assert reader.count(RUNS, ACME, Query(where={"run_key": "k03"})) == 1
    assert reader.scopes(RUNS) == [ACME, Scope("globex", "prod")]
    run_id = reader.page(RUNS, ACME, Query(where={"run_key": "k03"})).items[0]["run_id"]
    assert reader.get(RUNS, ACME, str(run_id)) is not None
    assert reader.get(RUNS, Scope("globex", "prod"), str(run_id)) is None


def test_bad_column_and_bad_cursor_are_validation_errors(reader: ProjectionReader) -> None:
    with pytest.raises(ValidationError) as bad_column:
        reader.page(RUNS, ACME, Query(order_by="doc"))
    assert bad_column.value.field == "doc"
    assert "requested_at" in list(bad_column.value.allowed or [])
    with pytest.raises(ValidationError) as bad_cursor:
        reader.page(RUNS, ACME, cursor="not-a-cursor!")
    assert bad_cursor.value.field == "cursor"
