"""Options for pointing a command at the user's project (``-m module`` or ``-f file``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from arco.sdk.definitions import Definitions

ModuleOption = Annotated[
    str | None,
    typer.Option(
        "--module", "-m", help="Python module holding the Definitions (e.g. my_project.defs)."
    ),
]
FileOption = Annotated[
    Path | None,
    typer.Option("--file", "-f", help="Python file holding the Definitions (e.g. definitions.py)."),
]
AttributeOption = Annotated[
    str | None,
    typer.Option("--attribute", "-a", help="Name of the Definitions object (default: defs)."),
]
TenantOption = Annotated[
    str, typer.Option("--tenant", envvar="ARCO_TENANT", help="Tenant the project belongs to.")
]
WorkspaceOption = Annotated[
    str,
    typer.Option("--workspace", envvar="ARCO_WORKSPACE", help="Workspace the project belongs to."),
]


def load_project(
    module: str | None, file: Path | None, attribute: str | None = None
) -> Definitions | None:
    """The project's Definitions, or None when no project was given."""
    if module is None and file is None:
        return None
    from arco.sdk.loading import load_definitions

    return load_definitions(module=module, file=file, attribute=attribute)
