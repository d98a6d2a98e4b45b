"""Schedule definition events and ScheduleTicked."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from arco.events.payload import Payload
from arco.events.selectors import PartitionSelector


class ScheduledPartitions(BaseModel):
    """Which partition a tick targets: the window ``offset`` windows before the tick.

    ``offset=-1`` (the default, as in Dagster) is the last window that is complete
    at the scheduled time; ``0`` is the window that contains it.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    partitions_def: dict[str, object]
    offset: int = -1


class ScheduleSpec(BaseModel):
    """Everything a schedule definition says; carried whole on create and update."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    cron: str
    timezone: str = "UTC"
    asset_selection: tuple[str, ...]
    partitions: ScheduledPartitions | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    catchup_window_minutes: int = Field(default=1440, ge=0)
    max_catchup_ticks: int = Field(default=10, ge=1)
    catch_up_on_resume: bool = False
    description: str | None = None


class _ScheduleDefinitionEvent(Payload):
    schedule_id: str
    definition_version: int = Field(ge=1)

    def idempotency_key(self) -> str:
        return f"schedule_def:{self.schedule_id}:{self.definition_version}"


class ScheduleCreated(_ScheduleDefinitionEvent):
    type: Literal["ScheduleCreated"] = "ScheduleCreated"
    spec: ScheduleSpec
    enabled: bool = True


class ScheduleUpdated(_ScheduleDefinitionEvent):
    type: Literal["ScheduleUpdated"] = "ScheduleUpdated"
    spec: ScheduleSpec


class SchedulePaused(_ScheduleDefinitionEvent):
    type: Literal["SchedulePaused"] = "SchedulePaused"
    changed_by: str = "system"


class ScheduleResumed(_ScheduleDefinitionEvent):
    type: Literal["ScheduleResumed"] = "ScheduleResumed"
    changed_by: str = "system"


class TickSnapshot(BaseModel):
    """The definition as it was when the tick fired; runs are built from this."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    definition_version: int
    asset_selection: tuple[str, ...]
    partition_selection: PartitionSelector | None = None
    tags: dict[str, str] = Field(default_factory=dict)


TickStatus = Literal["triggered", "skipped", "failed"]


class ScheduleTicked(Payload):
    """One evaluation of a schedule at one scheduled instant."""

    type: Literal["ScheduleTicked"] = "ScheduleTicked"
    schedule_id: str
    tick_id: str
    scheduled_epoch: int
    status: TickStatus
    reason: str | None = None
    snapshot: TickSnapshot | None = None
    run_key: str | None = None
    run_id: str | None = None
    manual: bool = False

    def idempotency_key(self) -> str:
        return f"sched_tick:{self.tick_id}"

    def correlation_id(self) -> str | None:
        return self.run_id


def tick_id(schedule_id: str, epoch: int, *, manual: bool = False) -> str:
    """``{schedule_id}:{epoch}``, or ``{schedule_id}:manual:{epoch}`` for a manual trigger."""
    return f"{schedule_id}:manual:{epoch}" if manual else f"{schedule_id}:{epoch}"


def schedule_run_key(schedule_id: str, epoch: int, *, manual: bool = False) -> str:
    """``sched:{schedule_id}:{epoch}`` (manual ticks get their own run key space)."""
    return f"sched:{schedule_id}:manual:{epoch}" if manual else f"sched:{schedule_id}:{epoch}"
