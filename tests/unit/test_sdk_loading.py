"""Loading a project by module (``-m pkg.defs``) or file (``-f path/definitions.py``)."""

from __future__ import annotations

import secrets
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from arco import Definitions
from arco.errors import InvalidDefinitionError
from arco.sdk.loading import load_definitions

PROJECT = """
from arco import Definitions, asset

@asset
def a() -> None: ...

{tail}
"""


@pytest.fixture(autouse=True)
def _restore_import_state() -> Iterator[None]:
    path, modules = list(sys.path), set(sys.modules)
    yield
    sys.path[:] = path
    for name in set(sys.modules) - modules:
        del sys.modules[name]


def write(directory: Path, name: str, tail: str = "defs = Definitions(assets=[a])") -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(PROJECT.format(tail=tail)))
    return path


def test_load_from_a_file_finds_defs_and_records_the_location(tmp_path: Path) -> None:
    path = write(tmp_path, "definitions.py")
    defs = load_definitions(file=path)
    assert isinstance(defs, Definitions)
    assert list(defs.assets_by_key) == ["a"]
    assert defs.location is not None
    assert defs.location.file == path.resolve()
    assert defs.location.attribute == "defs"


def test_a_file_can_import_its_siblings(tmp_path: Path) -> None:
    (tmp_path / "helpers_sibling.py").write_text("VALUE = 'from sibling'\n")
    path = write(
        tmp_path,
        "definitions.py",
        "from helpers_sibling import VALUE\nproject = Definitions(assets=[a])",
    )
    defs = load_definitions(file=path)
    assert defs.location is not None
    assert defs.location.attribute == "project"


def test_load_from_a_module_in_the_working_directory(tmp_path: Path) -> None:
    package = f"pkg_{secrets.token_hex(4)}"
    write(tmp_path, f"{package}/__init__.py", "")
    write(tmp_path, f"{package}/defs.py")
    defs = load_definitions(module=f"{package}.defs", working_directory=tmp_path)
    assert list(defs.assets_by_key) == ["a"]
    assert defs.location is not None
    assert defs.location.module == f"{package}.defs"
    assert defs.location.working_directory == tmp_path.resolve()


def test_the_single_definitions_instance_is_found_under_any_name(tmp_path: Path) -> None:
    path = write(tmp_path, "d.py", "everything = Definitions(assets=[a])")
    assert load_definitions(file=path).location.attribute == "everything"  # type: ignore[union-attr]


def test_several_definitions_without_defs_is_ambiguous(tmp_path: Path) -> None:
    path = write(tmp_path, "d.py", "one = Definitions(assets=[a])\ntwo = Definitions()")
    with pytest.raises(InvalidDefinitionError) as caught:
        load_definitions(file=path)
    assert caught.value.field == "attribute"
    assert caught.value.allowed == ["one", "two"]


def test_no_definitions_is_an_error_naming_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "d.py", "")
    with pytest.raises(InvalidDefinitionError) as caught:
        load_definitions(file=path)
    assert caught.value.field == "attribute"
    assert str(path) in caught.value.message


def test_a_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(InvalidDefinitionError) as caught:
        load_definitions(file=tmp_path / "nope.py")
    assert caught.value.field == "file"


def test_a_missing_module_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(InvalidDefinitionError) as caught:
        load_definitions(module="no_such_module_xyz.defs", working_directory=tmp_path)
    assert (caught.value.field, caught.value.value) == ("module", "no_such_module_xyz.defs")


def test_an_exception_while_importing_carries_its_traceback(tmp_path: Path) -> None:
    path = write(tmp_path, "d.py", "raise RuntimeError('boom at import')")
    with pytest.raises(InvalidDefinitionError) as caught:
        load_definitions(file=path)
    assert "boom at import" in caught.value.message
    assert "RuntimeError" in str(caught.value.details["traceback"])


def test_invalid_definitions_propagate_their_own_error(tmp_path: Path) -> None:
    path = write(tmp_path, "d.py", "defs = Definitions(assets=[a, a])")
    with pytest.raises(InvalidDefinitionError) as caught:
        load_definitions(file=path)
    assert (caught.value.field, caught.value.value) == ("assets", "a")


def test_exactly_one_of_module_and_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidDefinitionError) as caught:
        load_definitions()
    assert caught.value.field == "location"


def test_an_explicit_attribute_must_be_definitions(tmp_path: Path) -> None:
    path = write(tmp_path, "d.py", "defs = Definitions(assets=[a])\nother = 3")
    with pytest.raises(InvalidDefinitionError) as caught:
        load_definitions(file=path, attribute="other")
    assert (caught.value.field, caught.value.value) == ("attribute", "other")
