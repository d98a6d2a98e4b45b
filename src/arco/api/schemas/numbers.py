"""Integers as the stores hold them: 64-bit, so a bigger one is a 422 at the edge, not a 500."""

from __future__ import annotations

from typing import Annotated

from annotated_types import Ge, Le

INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)

# Combines with Field(ge=…) on the same field: both bounds apply.
Int64 = Annotated[int, Ge(INT64_MIN), Le(INT64_MAX)]
