"""Finding a project's ``Definitions`` in a module (``-m pkg.defs``) or a file (``-f defs.py``).

The object used is the module's ``defs`` attribute if it is a Definitions, else
the one Definitions instance the module holds (several without a ``defs`` is
ambiguous and refused).  The loaded Definitions remembers its
:class:`~arco.sdk.definitions.CodeLocation`, which is how a worker's task
subprocess loads exactly the same project again.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
import traceback
from pathlib import Path
from types import ModuleType

from arco.errors import ArcoError, InvalidDefinitionError
from arco.sdk.definitions import CodeLocation, Definitions

DEFAULT_ATTRIBUTE = "defs"


def load_definitions(
    *,
    module: str | None = None,
    file: str | Path | None = None,
    attribute: str | None = None,
    working_directory: str | Path | None = None,
) -> Definitions:
    """Import the project and return its Definitions (InvalidDefinitionError if impossible)."""
    if (module is None) == (file is None):
        raise InvalidDefinitionError(
            "give exactly one of a module (-m pkg.defs) or a file (-f path/definitions.py)",
            field="location",
            allowed=["module", "file"],
        )
    cwd = Path(working_directory or Path.cwd()).resolve()
    if module is not None:
        imported = _import_module(module, cwd)
        where = f"module {module!r}"
        location = CodeLocation(module=module, working_directory=cwd)
    else:
        path = Path(str(file)).resolve()
        imported = _import_file(path)
        where = f"file {str(path)!r}"
        location = CodeLocation(file=path, working_directory=cwd)
    name, definitions = _find(imported, attribute, where)
    definitions.location = CodeLocation(
        module=location.module,
        file=location.file,
        attribute=name,
        working_directory=location.working_directory,
    )
    return definitions


def load_location(location: CodeLocation) -> Definitions:
    """Load the project a CodeLocation points at (the worker's subprocess does this)."""
    return load_definitions(
        module=location.module,
        file=location.file,
        attribute=location.attribute,
        working_directory=location.working_directory,
    )


def _import_module(name: str, cwd: Path) -> ModuleType:
    # Like ``python -m``: the working directory is importable.
    if str(cwd) not in sys.path:
        sys.path.insert(0, str(cwd))
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as error:
        if error.name is not None and name.startswith(error.name):
            raise InvalidDefinitionError(
                f"no module named {name!r} (looked in {cwd} and the Python path)",
                field="module",
                value=name,
            ) from error
        raise _failed(f"module {name!r}", error) from error
    except ArcoError:
        raise
    except Exception as error:
        raise _failed(f"module {name!r}", error) from error


def _import_file(path: Path) -> ModuleType:
    if not path.is_file():
        raise InvalidDefinitionError(
            f"definitions file {str(path)!r} does not exist", field="file", value=str(path)
        )
    # A stable name per file, so the subprocess of a task imports it under the same one.
    name = f"arco_project_{hashlib.sha256(str(path).encode()).hexdigest()[:12]}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    imported = importlib.util.module_from_spec(spec)
    # Like ``python path/definitions.py``: its directory is importable (sibling modules).
    if str(path.parent) not in sys.path:
        sys.path.insert(0, str(path.parent))
    sys.modules[name] = imported
    try:
        spec.loader.exec_module(imported)
    except ArcoError:
        del sys.modules[name]
        raise
    except BaseException as error:
        del sys.modules[name]
        if isinstance(error, KeyboardInterrupt | SystemExit):
            raise
        raise _failed(f"file {str(path)!r}", error) from error
    return imported


def _find(imported: ModuleType, attribute: str | None, where: str) -> tuple[str, Definitions]:
    if attribute is not None:
        found = getattr(imported, attribute, None)
        if not isinstance(found, Definitions):
            raise InvalidDefinitionError(
                f"{where} has no Definitions named {attribute!r}",
                field="attribute",
                value=attribute,
                allowed=_candidates(imported),
            )
        return attribute, found
    default = getattr(imported, DEFAULT_ATTRIBUTE, None)
    if isinstance(default, Definitions):
        return DEFAULT_ATTRIBUTE, default
    names = _candidates(imported)
    if len(names) == 1:
        found = getattr(imported, names[0])
        assert isinstance(found, Definitions)
        return names[0], found
    if not names:
        message = f"{where} holds no Definitions; assign one to `{DEFAULT_ATTRIBUTE}`"
    else:
        message = f"{where} holds several Definitions ({', '.join(names)}); name one `defs`"
    raise InvalidDefinitionError(message, field="attribute", allowed=names)


def _candidates(imported: ModuleType) -> list[str]:
    return sorted(name for name, value in vars(imported).items() if isinstance(value, Definitions))


def _failed(where: str, error: BaseException) -> InvalidDefinitionError:
    return InvalidDefinitionError(
        f"loading {where} failed: {type(error).__name__}: {error}",
        field="location",
        value=where,
        details={"traceback": "".join(traceback.format_exception(error))},
    )
