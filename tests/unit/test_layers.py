"""The pure core stays pure: no I/O, no clock, no randomness (STYLE §1–§3).

The fold, the controllers, cron, partitions and the event model may import the
event model, each other and the standard library's pure parts. They never import
storage, the ledger, the runtime, services, API or CLI, a database driver or an
HTTP client, and never call a clock or a random id generator.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "arco"
PURE = [
    *sorted((SRC / "fold").glob("*.py")),
    *sorted((SRC / "controllers").glob("*.py")),
    *sorted((SRC / "events").glob("*.py")),
    *sorted((SRC / "partitions").glob("*.py")),
    SRC / "cron.py",
]
FORBIDDEN_MODULES = (
    "arco.storage",
    "arco.ledger",
    "arco.runtime",
    "arco.services",
    "arco.api",
    "arco.cli",
    "arco.clock",
    "arco.config",
    "arco.secrets",
    "arco.testing",
    "sqlalchemy",
    "psycopg",
    "sqlite3",
    "httpx",
    "requests",
    "subprocess",
    "socket",
    "random",
    "secrets",
    "uuid",
    "time",
    "threading",
    "os",
)
FORBIDDEN_CALLS = ("now", "utcnow", "today", "time", "monotonic", "new_ulid", "uuid4", "random")


def imported_modules(tree: ast.AST) -> list[str]:
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
    return names


def called_names(tree: ast.AST) -> list[str]:
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            function = node.func
            if isinstance(function, ast.Attribute):
                names.append(function.attr)
            elif isinstance(function, ast.Name):
                names.append(function.id)
    return names


@pytest.mark.parametrize("path", PURE, ids=lambda p: str(p.relative_to(SRC)))
def test_pure_modules_import_no_edge_and_read_no_clock(path: Path) -> None:
    tree = ast.parse(path.read_text())
    bad_imports = [
        module
        for module in imported_modules(tree)
        if any(module == f or module.startswith(f + ".") for f in FORBIDDEN_MODULES)
    ]
    assert bad_imports == [], f"{path.name} imports {bad_imports}"
    bad_calls = [name for name in called_names(tree) if name in FORBIDDEN_CALLS]
    assert bad_calls == [], f"{path.name} calls {bad_calls}"


def test_the_check_sees_every_pure_package() -> None:
    assert len(PURE) > 30
    assert imported_modules(ast.parse("from sqlalchemy import x")) == ["sqlalchemy"]
    assert imported_modules(ast.parse("import os.path")) == ["os.path"]
    assert called_names(ast.parse("datetime.now()")) == ["now"]
