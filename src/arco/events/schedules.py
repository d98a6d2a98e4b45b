"""Schedule definition events and ScheduleTicked.

Tick ids (DESIGN §2): a tick that requests a run is ``{schedule_id}:{epoch}`` (manual:
``{schedule_id}:manual:{epoch}``).  Records of instants that request no run live in their own
id spaces (``:{reason}:``, ``:failed:``, ``:invalid:``) so that a skip can never take the id, and
so the dedup slot, of a tick whose RunRequested another controller is appending (ADR-024).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from arco.events.payload import Payload
from arco.events.selectors import PartitionSelector


class ScheduledPartitions(BaseModel):
    """Which partition a tick targets: the window ``offset`` windows before the tick.

    ``offset=-1`` (the default, as in Dagster) is the last window that is complete
    at the scheduled time; ``0`` is the window that contains it.  Precisely: index
    ``size(at=tick) + offset`` of each time-window dimension, so a definition's
    ``end_offset`` moves it as it moves Dagster's last partition.  Static dimensions
    are targeted whole (every key), so each tick requests one run.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    partitions_def: dict[str, object]
    offset: int = -1


# Bounds keep one pass small: a minutely schedule missed for a year would otherwise be
# 525,600 ticks in one batch.
MAX_CATCHUP_TICKS = 10_000
MAX_CATCHUP_WINDOW_MINUTES = 366 * 24 * 60


class ScheduleSpec(BaseModel):
    """Everything a schedule definition says; carried whole on create and update."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    cron: str
    timezone: str = "UTC"
    asset_selection: tuple[str, ...]
    partitions: ScheduledPartitions | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    catchup_window_minutes: int = Field(default=1440, ge=0, le=MAX_CATCHUP_WINDOW_MINUTES)
    max_catchup_ticks: int = Field(default=10, ge=1, le=MAX_CATCHUP_TICKS)
    catch_up_on_resume: bool = False
    description: str | None = None


class _ScheduleDefinitionEvent(Payload):
    schedule_id: str
    definition_version: int = Field(ge=1)
    changed_by: str = "system"

    def idempotency_key(self) -> str:
        return schedule_definition_key(self.schedule_id, self.definition_version)


class ScheduleCreated(_ScheduleDefinitionEvent):
    type: Literal["ScheduleCreated"] = "ScheduleCreated"
    spec: ScheduleSpec
    enabled: bool = True


class ScheduleUpdated(_ScheduleDefinitionEvent):
    type: Literal["ScheduleUpdated"] = "ScheduleUpdated"
    spec: ScheduleSpec


class SchedulePaused(_ScheduleDefinitionEvent):
    type: Literal["SchedulePaused"] = "SchedulePaused"


class ScheduleResumed(_ScheduleDefinitionEvent):
    type: Literal["ScheduleResumed"] = "ScheduleResumed"


ScheduleDefinitionEvent = ScheduleCreated | ScheduleUpdated | SchedulePaused | ScheduleResumed


class TickSnapshot(BaseModel):
    """The definition as it was when the tick fired; runs are built from this."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    definition_version: int
    asset_selection: tuple[str, ...]
    partition_selection: PartitionSelector | None = None
    tags: dict[str, str] = Field(default_factory=dict)


TickStatus = Literal["triggered", "skipped", "failed"]
TICK_STATUSES: tuple[TickStatus, ...] = ("triggered", "skipped", "failed")

# Why a tick requested no run (``ScheduleTicked.reason``).
PAUSED = "paused"  # the schedule was paused at these instants
CATCHUP_LIMIT = "catchup_limit"  # missed, inside the window, beyond max_catchup_ticks
CATCHUP_WINDOW = "catchup_window"  # missed by more than catchup_window_minutes
NO_PARTITION = "no_partition"  # the targeted partition does not exist at that instant
PARTITION_ERROR = "partition_error"  # resolving the partition failed
INVALID_DEFINITION = "invalid_definition"  # the cron, zone or partitions cannot be used


class ScheduleTicked(Payload):
    """One evaluation of a schedule at one scheduled instant.

    A ``skipped`` record may stand for several instants: ``scheduled_epoch`` is the first,
    ``skipped_through_epoch`` the last and ``skipped_count`` how many (one record rather than
    thousands when a minutely schedule was paused or down for a day).
    """

    type: Literal["ScheduleTicked"] = "ScheduleTicked"
    schedule_id: str
    tick_id: str
    scheduled_epoch: int
    status: TickStatus
    reason: str | None = None
    error: str | None = None
    snapshot: TickSnapshot | None = None
    run_key: str | None = None
    run_id: str | None = None
    manual: bool = False
    skipped_count: int | None = Field(default=None, ge=1)
    skipped_through_epoch: int | None = None

    def idempotency_key(self) -> str:
        return f"sched_tick:{self.tick_id}"

    def correlation_id(self) -> str | None:
        return self.run_id


def tick_id(schedule_id: str, epoch: int, *, manual: bool = False) -> str:
    """``{schedule_id}:{epoch}``, or ``{schedule_id}:manual:{epoch}`` for a manual trigger."""
    return f"{schedule_id}:manual:{epoch}" if manual else f"{schedule_id}:{epoch}"


def skipped_tick_id(schedule_id: str, reason: str, first_epoch: int) -> str:
    """``{schedule_id}:{reason}:{epoch}``: instants skipped for ``reason`` from ``first_epoch`` on.

    Two controllers that cut the same skipped stretch at different ends agree on its id,
    so the ledger keeps the first record and drops the other.
    """
    return f"{schedule_id}:{reason}:{first_epoch}"


def failed_tick_id(schedule_id: str, epoch: int) -> str:
    """``{schedule_id}:failed:{epoch}``: an instant whose evaluation failed."""
    return f"{schedule_id}:failed:{epoch}"


def invalid_definition_tick_id(schedule_id: str, definition_version: int) -> str:
    """``{schedule_id}:invalid:v{n}``: one failed tick per unusable definition version."""
    return f"{schedule_id}:invalid:v{definition_version}"


def schedule_definition_key(schedule_id: str, definition_version: int) -> str:
    """``schedule_def:{schedule_id}:{version}``: one definition event per version."""
    return f"schedule_def:{schedule_id}:{definition_version}"


def schedule_run_key(schedule_id: str, epoch: int, *, manual: bool = False) -> str:
    """``sched:{schedule_id}:{epoch}`` (manual ticks get their own run key space)."""
    return f"sched:{schedule_id}:manual:{epoch}" if manual else f"sched:{schedule_id}:{epoch}"
