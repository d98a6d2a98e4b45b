"""PartitionSelector: which partitions a backfill or run targets, never their expansion.

Events carry a selector, not the list of keys a range resolves to, so that a
backfill over a million partitions is a few hundred bytes in the ledger.  A
selector must resolve to the same keys whenever it is replayed, so there is no
"all partitions up to now" kind: the edge turns that into an explicit range.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Selector(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RangeSelector(_Selector):
    """Every key from ``start`` to ``end`` inclusive, in the definition's order."""

    kind: Literal["range"] = "range"
    start: str
    end: str


class KeysSelector(_Selector):
    """An explicit list of keys (kept in the order given, duplicates removed)."""

    kind: Literal["keys"] = "keys"
    keys: tuple[str, ...]


class FilterSelector(_Selector):
    """Keys whose dimensions match shell-style globs, e.g. ``{"region": "us-*"}``.

    On a single-dimension definition the one dimension is called ``key``.
    An optional range narrows the candidates before the globs are applied.
    """

    kind: Literal["filter"] = "filter"
    dimensions: dict[str, str]
    range: RangeSelector | None = None


PartitionSelector = Annotated[
    RangeSelector | KeysSelector | FilterSelector, Field(discriminator="kind")
]
