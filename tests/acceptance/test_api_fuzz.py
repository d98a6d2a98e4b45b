"""OpenAPI-driven fuzzing (schemathesis): no 500s and no response off the schema.

Runs in-process against the real app with the quickstart project loaded, with a
bounded number of examples per operation: over a real SQLite store, and over
PostgreSQL too when ARCO_TEST_POSTGRES_URL is set (CI), whose types are stricter
(a NUL in a string once passed SQLite and stopped PostgreSQL's compactor).
"""

from __future__ import annotations

import atexit
import tempfile
from contextlib import ExitStack
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from arco.api.app import create_app
from arco.runtime.instance import Instance
from arco.sdk.loading import load_definitions
from arco.storage.database import sqlite_url
from support.api import ACME, api_state
from support.databases import postgres_schema, postgres_url

ROOT = Path(__file__).resolve().parents[2]
_definitions = load_definitions(file=ROOT / "examples" / "quickstart" / "definitions.py")
_cleanup = ExitStack()
atexit.register(_cleanup.close)


def _schema(url: str) -> schemathesis.BaseSchema:
    instance = Instance.open(url, migrate=True)
    _cleanup.callback(instance.close)
    app = create_app(api_state(instance, _definitions))
    return schemathesis.openapi.from_asgi("/openapi.json", app)


schema = _schema(sqlite_url(_cleanup.enter_context(tempfile.TemporaryDirectory())))

CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
    content_type_conformance,
]


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_no_server_errors_and_responses_match_the_schema(case: schemathesis.Case) -> None:
    case.call_and_validate(headers=ACME, checks=CHECKS)


if postgres_url():
    postgres = _schema(_cleanup.enter_context(postgres_schema()))

    @postgres.parametrize()
    @settings(
        max_examples=25,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    def test_postgres_no_server_errors_and_responses_match_the_schema(
        case: schemathesis.Case,
    ) -> None:
        case.call_and_validate(headers=ACME, checks=CHECKS)
