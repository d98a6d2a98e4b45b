"""OpenAPI-driven fuzzing (schemathesis): no 500s and no response off the schema.

Runs in-process against the real app over a real SQLite store with the
quickstart project loaded, with a bounded number of examples per operation.
"""

from __future__ import annotations

import tempfile
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

ROOT = Path(__file__).resolve().parents[2]
_directory = tempfile.TemporaryDirectory()
_instance = Instance.open(sqlite_url(_directory.name), migrate=True)
_definitions = load_definitions(file=ROOT / "examples" / "quickstart" / "definitions.py")
app = create_app(api_state(_instance, _definitions))
schema = schemathesis.openapi.from_asgi("/openapi.json", app)

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
