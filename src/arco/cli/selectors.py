"""Which partitions: ``--from``/``--to``, ``--key`` and ``--filter`` as a PartitionSelector."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from arco.cli.common import parse_pairs
from arco.errors import ValidationError

FromOption = Annotated[
    str | None, typer.Option("--from", help="First partition key of a range (inclusive)")
]
ToOption = Annotated[
    str | None, typer.Option("--to", help="Last partition key of a range (inclusive)")
]
KeyOption = Annotated[list[str] | None, typer.Option("--key", help="Partition key (repeatable)")]
FilterOption = Annotated[
    list[str] | None,
    typer.Option(
        "--filter",
        help="dimension=glob (repeatable), e.g. region=us-*; `key` on a one-dimension "
        "definition; with --from/--to the range is narrowed",
    ),
]


def partition_selector(
    start: str | None, end: str | None, keys: list[str] | None, filters: list[str] | None
) -> dict[str, Any]:
    """The request's PartitionSelector from --from/--to, --key or --filter."""
    ranged = None
    if start is not None or end is not None:
        if start is None or end is None:
            raise ValidationError(
                "a range needs both ends",
                field="--from" if start is None else "--to",
                allowed="--from START --to END",
            )
        ranged = {"kind": "range", "start": start, "end": end}
    if keys:
        if ranged is not None or filters:
            raise ValidationError(
                "--key names the partitions itself; drop --from/--to and --filter",
                field="--key",
                allowed="--key K (repeatable) alone",
            )
        return {"kind": "keys", "keys": keys}
    if filters:
        dimensions = parse_pairs(filters, "--filter", allowed="name=value")
        return {"kind": "filter", "dimensions": dimensions, "range": ranged}
    if ranged is None:
        raise ValidationError(
            "which partitions? give a range, keys or a filter",
            field="--from",
            allowed="--from START --to END, --key K (repeatable), or --filter dim=glob",
        )
    return ranged
