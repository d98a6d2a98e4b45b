"""SourceRef: what asked for a run, so every run traces back to its decision."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Source(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ScheduleSource(_Source):
    kind: Literal["schedule"] = "schedule"
    schedule_id: str
    tick_id: str


class SensorSource(_Source):
    kind: Literal["sensor"] = "sensor"
    sensor_id: str
    eval_id: str


class BackfillSource(_Source):
    kind: Literal["backfill"] = "backfill"
    backfill_id: str
    chunk_index: int


class ManualSource(_Source):
    kind: Literal["manual"] = "manual"
    user: str
    request_id: str


SourceRef = Annotated[
    ScheduleSource | SensorSource | BackfillSource | ManualSource, Field(discriminator="kind")
]
