"""Small builders for events used across tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from arco.events import (
    KeysSelector,
    ManualSource,
    OrchestrationEvent,
    Payload,
    RunRequested,
    ScheduleSource,
)
from arco.ids import request_fingerprint, run_id_from_run_key

TENANT = "acme"
WORKSPACE = "prod"
SECRET = "test-secret"
T0 = datetime(2024, 1, 1, tzinfo=UTC)


def run_requested(
    run_key: str,
    *,
    assets: tuple[str, ...] = ("raw",),
    partition: str | None = None,
    tenant: str = TENANT,
    workspace: str = WORKSPACE,
    tick: str | None = None,
) -> RunRequested:
    selection = None if partition is None else KeysSelector(keys=(partition,))
    source = (
        ScheduleSource(schedule_id=tick.split(":")[0], tick_id=tick)
        if tick
        else ManualSource(user="tester", request_id=run_key)
    )
    return RunRequested(
        run_key=run_key,
        run_id=run_id_from_run_key(tenant, workspace, run_key, SECRET),
        request_fingerprint=request_fingerprint(
            list(assets), None if selection is None else selection.model_dump(mode="json")
        ),
        asset_selection=assets,
        partition_selection=selection,
        source=source,
    )


def envelope(
    data: Payload,
    *,
    tenant: str = TENANT,
    workspace: str = WORKSPACE,
    at: datetime = T0,
    seconds: int = 0,
) -> OrchestrationEvent:
    return OrchestrationEvent.new(tenant, workspace, data, now=at + timedelta(seconds=seconds))
