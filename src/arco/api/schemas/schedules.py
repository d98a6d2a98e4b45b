"""Bodies of the schedule routes (``/schedules``): definitions, ticks, manual triggers."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from arco.api.models import AcceptedResponse, PageOut
from arco.api.schemas.numbers import Int64
from arco.events.schedules import ScheduledPartitions, ScheduleSpec

_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"


# --- request bodies ------------------------------------------------------------------


class ScheduleCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, description="Shown in lists and tick history")
    cron: str = Field(
        description="5 fields (minute hour day-of-month month day-of-week), 6 with seconds last, "
        "or @hourly/@daily/@weekly/@monthly/@yearly",
        examples=["0 2 * * *"],
    )
    timezone: str = Field(default="UTC", description="IANA time zone, e.g. America/New_York")
    asset_selection: list[str] = Field(min_length=1, description="Asset keys each run targets")
    partitions: ScheduledPartitions | None = Field(
        default=None, description="Which partition each tick targets (partitioned assets)"
    )
    tags: dict[str, str] = Field(default_factory=dict, description="Copied onto every run")
    catchup_window_minutes: Int64 = Field(
        default=1440, ge=0, description="Missed ticks older than this are skipped, not run"
    )
    max_catchup_ticks: Int64 = Field(default=10, ge=1, description="At most this many missed ticks")
    catch_up_on_resume: bool = Field(
        default=False, description="true: a resume runs the ticks missed while paused"
    )
    description: str | None = Field(default=None, max_length=10_000)
    enabled: bool = Field(default=True, description="false: created paused")
    schedule_id: str | None = Field(
        default=None,
        pattern=_ID_PATTERN,
        description="Choose the id (a retry with the same definition is harmless); "
        "default: a new ULID",
    )
    client_request_id: str | None = Field(
        default=None, min_length=1, max_length=200, description="Like Idempotency-Key"
    )


class SchedulePatch(BaseModel):
    """Only the fields sent change (``partitions: null`` removes the partition target)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    cron: str | None = None
    timezone: str | None = None
    asset_selection: list[str] | None = Field(default=None, min_length=1)
    partitions: ScheduledPartitions | None = None
    tags: dict[str, str] | None = None
    catchup_window_minutes: Int64 | None = Field(default=None, ge=0)
    max_catchup_ticks: Int64 | None = Field(default=None, ge=1)
    catch_up_on_resume: bool | None = None
    description: str | None = Field(default=None, max_length=10_000)
    expected_version: Int64 | None = Field(
        default=None,
        ge=1,
        description="409 version_conflict unless this is still the definition_version "
        "(default: the version this request read)",
    )


class VersionCheck(BaseModel):
    model_config = ConfigDict(extra="forbid")

    expected_version: Int64 | None = Field(
        default=None, ge=1, description="409 version_conflict unless this is still current"
    )


# --- responses ----------------------------------------------------------------------


class ScheduleStateOut(BaseModel):
    """What the controller has decided so far (absent before the first tick)."""

    model_config = ConfigDict(extra="allow")

    last_scheduled_at: str | None = None
    last_tick_id: str | None = None
    last_run_id: str | None = None
    last_manual_tick_id: str | None = None


class ScheduleOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    schedule_id: str
    name: str
    enabled: bool
    definition_version: Int64
    spec: ScheduleSpec
    created_at: str
    updated_at: str | None = None
    paused_at: str | None = None
    resumed_at: str | None = None
    changed_by: str | None = None
    definition_event_id: str | None = None


class ScheduleDetail(ScheduleOut):
    state: ScheduleStateOut | None = None
    next_tick_at: str | None = Field(default=None, description="Absent when paused")


class SchedulePage(PageOut):
    items: list[ScheduleOut]
    next_cursor: str | None = None


class TickOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    tick_id: str
    schedule_id: str
    scheduled_epoch: Int64
    scheduled_at: str
    status: str = Field(description="triggered, skipped or failed")
    reason: str | None = Field(default=None, description="Why no run: paused, catchup_limit, …")
    error: str | None = None
    manual: bool = False
    run_key: str | None = None
    run_id: str | None = None
    skipped_count: Int64 | None = Field(default=None, description="Instants this record stands for")
    skipped_through_at: str | None = None
    recorded_at: str | None = None
    event_id: str | None = None


class TickPage(PageOut):
    items: list[TickOut]
    next_cursor: str | None = None


class TriggerResponse(AcceptedResponse):
    """A manual tick: ``id`` and ``tick_id`` name it; ``accepted_event_id`` is the tick's event."""

    tick_id: str
    status: str = Field(description="triggered, or skipped/failed when no run could be made")
    run_id: str | None = None
    run_key: str | None = None
    run_event_id: str | None = Field(
        default=None, description="The RunRequested event: wait for it to read the run"
    )
