"""Bodies of the asset and partition routes (``/assets``, ``/partitions``)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from arco.api.models import PageOut
from arco.api.schemas.numbers import Int64
from arco.partitions.status import DisplayStatus

# --- responses ----------------------------------------------------------------------


class AssetOut(BaseModel):
    asset_key: str
    partitioned: bool
    partitions_def: dict[str, Any] | None = Field(
        default=None, description="The definition as JSON (what backfills snapshot)"
    )
    partitions_description: str | None = Field(
        default=None, description="Key format and bounds, e.g. a daily range and its format"
    )
    partition_count: Int64 = Field(description="Partitions that exist now (1 when unpartitioned)")
    deps: list[str] = Field(default_factory=list)
    code_version: str | None = None
    freshness_maximum_lag_minutes: float | None = None


class AssetPage(PageOut):
    items: list[AssetOut]
    next_cursor: str | None = None


class PartitionOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    asset_key: str
    partition_key: str
    status: DisplayStatus
    stale: bool
    stale_reasons: list[str] = Field(default_factory=list)
    stale_since: str | None = None
    in_progress: bool = False
    last_materialization_at: str | None = None
    last_materialization_run_id: str | None = None
    last_materialization_code_version: str | None = None
    last_attempt_outcome: str | None = None
    last_attempt_at: str | None = None
    last_attempt_run_id: str | None = None


class PartitionListPage(PageOut):
    items: list[PartitionOut]
    next_cursor: str | None = None


class SummaryOut(BaseModel):
    asset_key: str
    total: Int64 = Field(description="Partitions that exist now")
    counts: dict[str, Int64] = Field(description="Partitions per display status")
    stale_by_reason: dict[str, Int64]
    last_attempt_failed: Int64 = Field(description="Partitions whose latest attempt failed")
