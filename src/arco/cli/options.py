"""Options that several resource commands declare the same way (same flag, same help)."""

from __future__ import annotations

from typing import Annotated

import typer

TagOption = Annotated[list[str] | None, typer.Option("--tag", help="key=value (repeatable)")]
ReplaceTagsOption = Annotated[
    list[str] | None, typer.Option("--tag", help="key=value (repeatable; replaces all tags)")
]
RequestIdOption = Annotated[str | None, typer.Option(help="Idempotency key for this request")]
PausedOption = Annotated[bool, typer.Option("--paused", help="Create it paused")]
