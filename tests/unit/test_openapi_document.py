"""The OpenAPI document checked into docs/ is the one the server serves."""

from __future__ import annotations

import json
from pathlib import Path

from arco.api.app import openapi_document

CHECKED_IN = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"


def test_docs_openapi_json_is_current() -> None:
    served = json.dumps(openapi_document(), indent=2, sort_keys=True) + "\n"
    assert CHECKED_IN.read_text() == served, (
        "run scripts/export-openapi and commit docs/openapi.json"
    )


def test_every_mutation_documents_its_errors_and_every_route_is_under_the_prefix() -> None:
    document = openapi_document()
    paths = document["paths"]
    assert isinstance(paths, dict)
    for path, operations in paths.items():
        if path in ("/healthz", "/readyz", "/metrics"):
            continue
        assert path.startswith("/api/v1/orchestration/"), path
        for method, operation in operations.items():
            responses = operation["responses"]
            assert "422" in responses, (method, path)
            if method == "post":
                assert {"401", "404"} <= set(responses), (method, path)
