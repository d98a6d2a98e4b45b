"""Syncing the schedules and sensors a project declares in code into the ledger.

A code definition is matched to a ledger definition by *name* within the
workspace; the ledger's id (a ULID) is kept, so ids, run keys and tick history
survive restarts, and a definition whose spec is unchanged appends nothing.
Changed specs become ``*Updated`` events under the same id.  ``default_status``
applies only when a definition is first created, as in Dagster: a pause or
resume by an operator sticks across restarts.  Definitions in the ledger that
the code no longer declares are reported, never deleted or paused.

A definition created by sync gets an id derived from its tenant, workspace,
kind and name (a ULID with a fixed time part), so two processes that sync the
same project at once before the compactor has folded either create it once:
their creation events share an idempotency key.

Matching by name needs projections that include every earlier sync, so sync
first waits (``wait_seconds``) for the compactor to reach the ledger head.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from arco.errors import StorageError
from arco.events.schedules import ScheduleSpec
from arco.events.sensors import SensorSpec
from arco.fold.rows import Doc
from arco.fold.tables import SCHEDULE_DEFINITIONS, SENSOR_DEFINITIONS, ProjectionTable
from arco.ids import derived_ulid
from arco.sdk.definitions import Definitions
from arco.sdk.schedules import DefaultScheduleStatus
from arco.sdk.sensors import DefaultSensorStatus
from arco.services import ServiceContext
from arco.services import schedules as schedule_service
from arco.services import sensors as sensor_service
from arco.storage.reader import Query

# The time part of ids derived for code-defined definitions; only their hash part differs.
CODE_DEFINED_AT = datetime(2024, 1, 1, tzinfo=UTC)
DEFAULT_WAIT_SECONDS = 30.0


@dataclass
class SyncReport:
    """What a sync did, as ``kind:name`` entries, and the id of every synced name."""

    schedule_ids: dict[str, str] = field(default_factory=dict)
    sensor_ids: dict[str, str] = field(default_factory=dict)
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    not_in_code: list[str] = field(default_factory=list)


def code_defined_id(ctx: ServiceContext, kind: str, name: str) -> str:
    """The id sync gives a new definition: the same for every process syncing that name."""
    scope = ctx.scope
    return derived_ulid(
        CODE_DEFINED_AT, f"code:{scope.tenant_id}/{scope.workspace_id}/{kind}/{name}"
    )


def sync_definitions(
    ctx: ServiceContext,
    definitions: Definitions,
    *,
    wait_seconds: float | None = DEFAULT_WAIT_SECONDS,
) -> SyncReport:
    """Create or update every schedule and sensor of ``definitions`` (``None``: do not wait)."""
    if wait_seconds is not None:
        _wait_for_projections(ctx, wait_seconds)
    report = SyncReport()
    _sync_schedules(ctx, definitions, report)
    _sync_sensors(ctx, definitions, report)
    for kind, table, declared in (
        ("schedule", SCHEDULE_DEFINITIONS, definitions.schedules_by_name),
        ("sensor", SENSOR_DEFINITIONS, definitions.sensors_by_name),
    ):
        report.not_in_code += [
            f"{kind}:{name}" for name in _names(ctx, table) if name not in declared
        ]
    return report


def _sync_schedules(ctx: ServiceContext, definitions: Definitions, report: SyncReport) -> None:
    for name, spec in sorted(definitions.schedule_specs().items()):
        label = f"schedule:{name}"
        existing = _by_name(ctx, SCHEDULE_DEFINITIONS, name)
        if existing is None:
            running = definitions.schedules_by_name[name].default_status
            accepted = schedule_service.create_schedule(
                ctx,
                spec,
                enabled=running == DefaultScheduleStatus.RUNNING,
                schedule_id=code_defined_id(ctx, "schedule", name),
            )
            assert accepted.resource_id is not None
            report.schedule_ids[name] = accepted.resource_id
            report.created.append(label)
            continue
        schedule_id = str(existing["schedule_id"])
        report.schedule_ids[name] = schedule_id
        current = schedule_service.get_schedule(ctx, schedule_id)
        if ScheduleSpec.model_validate(current["spec"]) == spec:
            report.unchanged.append(label)
        else:
            schedule_service.update_schedule(ctx, schedule_id, spec)
            report.updated.append(label)


def _sync_sensors(ctx: ServiceContext, definitions: Definitions, report: SyncReport) -> None:
    for name, sensor in sorted(definitions.sensors_by_name.items()):
        label = f"sensor:{name}"
        spec = sensor.to_spec()
        existing = _by_name(ctx, SENSOR_DEFINITIONS, name)
        if existing is None:
            accepted = sensor_service.create(
                ctx,
                spec,
                enabled=sensor.default_status == DefaultSensorStatus.RUNNING,
                sensor_id=code_defined_id(ctx, "sensor", name),
            )
            assert accepted.resource_id is not None
            report.sensor_ids[name] = accepted.resource_id
            report.created.append(label)
            continue
        sensor_id = str(existing["sensor_id"])
        report.sensor_ids[name] = sensor_id
        stored = {key: existing[key] for key in SensorSpec.model_fields if key in existing}
        if SensorSpec.model_validate(stored) == spec:
            report.unchanged.append(label)
        else:
            sensor_service.update(ctx, sensor_id, spec)
            report.updated.append(label)


def _by_name(ctx: ServiceContext, table: ProjectionTable, name: str) -> Doc | None:
    found = ctx.reader.all(table, ctx.scope, Query(where={"name": name}))
    return found[0] if found else None


def _names(ctx: ServiceContext, table: ProjectionTable) -> Iterable[str]:
    return sorted(str(doc["name"]) for doc in ctx.reader.all(table, ctx.scope))


def _wait_for_projections(ctx: ServiceContext, wait_seconds: float) -> None:
    """Block until the compactor has folded everything appended before this call."""
    head = ctx.ledger.head()
    deadline = time.monotonic() + wait_seconds
    while (watermark := ctx.reader.watermark()) < head:
        if time.monotonic() >= deadline:
            raise StorageError(
                f"projections are at offset {watermark}, the ledger at {head}: is a compactor"
                " running? (definitions are matched by name in the projections)",
                field="watermark",
                value=watermark,
                details={"ledger_head": head},
            )
        time.sleep(0.05)
