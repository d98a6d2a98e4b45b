"""``ScheduleDefinition``: a cron in a timezone that requests runs of some assets.

When the target assets are partitioned, each tick targets one partition: the
window ``partition_offset`` windows before the tick (``-1``, the default, is the
last window complete at the scheduled time, as Dagster's partitioned schedules do).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from arco.cron import CronSchedule
from arco.errors import InvalidDefinitionError
from arco.events.schedules import (
    MAX_CATCHUP_TICKS,
    MAX_CATCHUP_WINDOW_MINUTES,
    ScheduledPartitions,
    ScheduleSpec,
)
from arco.partitions import PartitionsDefinition
from arco.sdk.assets import AssetsDefinition


class DefaultScheduleStatus(StrEnum):
    """Whether a schedule starts running when it is first synced (later toggles stick)."""

    RUNNING = "RUNNING"
    STOPPED = "STOPPED"


@dataclass(frozen=True, init=False)
class ScheduleDefinition:
    """A schedule declared in code; synced into the ledger by name."""

    name: str
    cron_schedule: str
    target: tuple[str, ...]
    execution_timezone: str
    partition_offset: int
    catchup_window_minutes: int
    max_catchup_ticks: int
    catch_up_on_resume: bool
    default_status: DefaultScheduleStatus
    tags: Mapping[str, str] = field(default_factory=dict)
    description: str | None = None

    def __init__(
        self,
        name: str | None = None,
        *,
        cron_schedule: str,
        target: Sequence[str | AssetsDefinition],
        execution_timezone: str = "UTC",
        partition_offset: int = -1,
        catchup_window_minutes: int = 1440,
        max_catchup_ticks: int = 10,
        catch_up_on_resume: bool = False,
        default_status: DefaultScheduleStatus | str = DefaultScheduleStatus.STOPPED,
        tags: Mapping[str, str] | None = None,
        description: str | None = None,
    ) -> None:
        keys = tuple(t if isinstance(t, str) else t.key for t in target)
        if not keys:
            raise _invalid("target", "[]", "one or more assets or asset names")
        name = name if name is not None else "_".join(keys) + "_schedule"
        if not name.strip():
            raise _invalid("name", name, "a non-empty name")
        CronSchedule(cron_schedule, execution_timezone)  # InvalidCron/TimezoneError early
        if not 0 <= catchup_window_minutes <= MAX_CATCHUP_WINDOW_MINUTES:
            allowed = f"an integer from 0 to {MAX_CATCHUP_WINDOW_MINUTES} (366 days)"
            raise _invalid("catchup_window_minutes", catchup_window_minutes, allowed)
        if not 1 <= max_catchup_ticks <= MAX_CATCHUP_TICKS:
            allowed = f"an integer from 1 to {MAX_CATCHUP_TICKS}"
            raise _invalid("max_catchup_ticks", max_catchup_ticks, allowed)
        if default_status not in set(DefaultScheduleStatus):
            raise _invalid("default_status", default_status, list(DefaultScheduleStatus))
        values = {
            "name": name,
            "cron_schedule": cron_schedule,
            "target": keys,
            "execution_timezone": execution_timezone,
            "partition_offset": partition_offset,
            "catchup_window_minutes": catchup_window_minutes,
            "max_catchup_ticks": max_catchup_ticks,
            "catch_up_on_resume": catch_up_on_resume,
            "default_status": DefaultScheduleStatus(default_status),
            "tags": dict(tags or {}),
            "description": description,
        }
        for attribute, value in values.items():
            object.__setattr__(self, attribute, value)

    def to_spec(self, partitions_def: PartitionsDefinition | None) -> ScheduleSpec:
        """The ledger's spec; ``partitions_def`` is the (shared) one of the target assets."""
        partitions = (
            None
            if partitions_def is None
            else ScheduledPartitions(
                partitions_def=dict(partitions_def.to_dict()), offset=self.partition_offset
            )
        )
        return ScheduleSpec(
            name=self.name,
            cron=self.cron_schedule,
            timezone=self.execution_timezone,
            asset_selection=self.target,
            partitions=partitions,
            tags=dict(self.tags),
            catchup_window_minutes=self.catchup_window_minutes,
            max_catchup_ticks=self.max_catchup_ticks,
            catch_up_on_resume=self.catch_up_on_resume,
            description=self.description,
        )


def _invalid(name: str, value: object, allowed: str | list[str]) -> InvalidDefinitionError:
    return InvalidDefinitionError(
        f"invalid schedule {name}: {value!r}; expected {allowed}",
        field=name,
        value=str(value),
        allowed=allowed,
    )
