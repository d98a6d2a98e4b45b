"""Integers as the stores hold them: 64-bit, so a bigger one is a 422 at the edge, not a 500."""

from __future__ import annotations

from typing import Annotated

from annotated_types import Le

INT64_MAX = 2**63 - 1

# Only the upper bound: a lower bound here would replace a field's own Field(ge=…)
# (pydantic keeps the last constraint of a kind). Integers that reach a column all have a
# ge; free-form ones (task metadata) are kept in JSON documents, which hold any size.
Int64 = Annotated[int, Le(INT64_MAX)]
