"""Fixtures shared by every test level."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from arco.compactor import Compactor
from arco.ledger import SqlLedger, ledger_for
from arco.storage.database import open_engine
from support.databases import backends, database_url, postgres_url


def pytest_report_header() -> str:
    if postgres_url():
        return "arco: PostgreSQL tests ON (ARCO_TEST_POSTGRES_URL set)"
    return "arco: PostgreSQL tests NOT collected (set ARCO_TEST_POSTGRES_URL; CI always does)"


@pytest.fixture(params=backends())
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def db_url(backend: str, tmp_path: Path) -> Iterator[str]:
    with database_url(backend, tmp_path) as url:
        yield url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = open_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def ledger(engine: Engine) -> SqlLedger:
    return ledger_for(engine)


@pytest.fixture
def compactor(ledger: SqlLedger) -> Compactor:
    return Compactor(ledger)
