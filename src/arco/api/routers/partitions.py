"""Assets and their partitions: the project's assets, partition status, stale lists, summaries.

Which assets exist and how they are partitioned comes from the project the server
loaded (``arco serve -f definitions.py``); without one these routes answer 409
``conflict`` (reason ``no_project_loaded``).  Status is per tenant and workspace: a
caller only ever sees what its own runs materialized.

Display status (first match wins): ``IN_PROGRESS``, ``NEVER_MATERIALIZED``,
``MATERIALIZED_LAST_ATTEMPT_FAILED``, ``STALE`` (with ``stale_reasons``:
``FRESHNESS_POLICY``, ``UPSTREAM_CHANGED``, ``CODE_CHANGED``), ``MATERIALIZED``.
Staleness is computed when read, with the server's clock.

Listing with no status filter (or ``NEVER_MATERIALIZED``) walks the definition's keys in
order; a ``NEVER_MATERIALIZED`` page scans a bounded number of keys and may come back short,
even empty, with a ``next_cursor`` to continue.  Other statuses and the stale list are in
partition-key order.  Asset keys may hold ``/`` (``warehouse/orders``): use it as is.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request

from arco.api.errors import ERROR_RESPONSES
from arco.api.params import Paging, ReadScope
from arco.api.schemas.partitions import (
    AssetOut,
    AssetPage,
    PartitionListPage,
    PartitionOut,
    SummaryOut,
)
from arco.api.state import api_state, service_context
from arco.partitions.status import AssetInfo, DisplayStatus, PartitionStatus
from arco.sdk.definitions import Definitions
from arco.services import partitions as service
from arco.services.partitions import AssetPartitionsPage
from arco.services.projects import loaded_project

router = APIRouter(tags=["partitions"], responses=ERROR_RESPONSES)

STATUS_HELP = ", ".join(status.value for status in DisplayStatus)
StatusQuery = Annotated[str | None, Query(description=f"Only this display status: {STATUS_HELP}")]
AssetQuery = Annotated[
    str | None, Query(min_length=1, description="Only this asset (default: every asset)")
]


# --- routes ---------------------------------------------------------------------------


@router.get("/assets", summary="The loaded project's assets and how each is partitioned")
def list_assets(request: Request, scope: ReadScope) -> AssetPage:
    definitions = _project(request)
    now = api_state(request).clock.now()
    return AssetPage(
        items=[_asset_out(definitions, key, now) for key in sorted(definitions.assets_by_key)]
    )


@router.get("/partitions", summary="Partitions with their status, one asset or every asset")
def list_partitions(
    request: Request,
    scope: ReadScope,
    page: Paging,
    asset_key: AssetQuery = None,
    status: StatusQuery = None,
) -> PartitionListPage:
    found = service.list_partitions_across(
        service_context(request, scope),
        _project(request),
        asset_key,
        status=status,
        cursor=page.cursor,
        limit=page.limit,
    )
    return _partition_page(found)


@router.get("/partitions/stale", summary="Materialized partitions that are stale now, with why")
def list_stale(
    request: Request, scope: ReadScope, page: Paging, asset_key: AssetQuery = None
) -> PartitionListPage:
    found = service.list_stale_across(
        service_context(request, scope),
        _project(request),
        asset_key,
        cursor=page.cursor,
        limit=page.limit,
    )
    return _partition_page(found)


# Declared before the catch-all partition route so "summary" is never taken for a key.
@router.get(
    "/assets/{asset_key:path}/partitions/summary",
    summary="An asset's partitions counted per display status (one SQL aggregate)",
)
def summary(asset_key: str, request: Request, scope: ReadScope) -> SummaryOut:
    info = _asset_info(request, asset_key)
    found = service.asset_summary(service_context(request, scope), info)
    return SummaryOut.model_validate(found.to_dict())


@router.get("/assets/{asset_key:path}/partitions", summary="An asset's partitions, paginated")
def asset_partitions(
    asset_key: str, request: Request, scope: ReadScope, page: Paging, status: StatusQuery = None
) -> PartitionListPage:
    info = _asset_info(request, asset_key)
    found = service.list_partitions(
        service_context(request, scope), info, status=status, cursor=page.cursor, limit=page.limit
    )
    return PartitionListPage(
        items=[_partition_out(asset_key, item) for item in found.items],
        next_cursor=found.next_cursor,
    )


@router.get(
    "/assets/{asset_key:path}/partitions/{partition_key:path}",
    summary="One partition's status (the key must exist in the asset's definition now)",
)
def get_partition(
    asset_key: str, partition_key: str, request: Request, scope: ReadScope
) -> PartitionOut:
    info = _asset_info(request, asset_key)
    found = service.get_partition(service_context(request, scope), info, partition_key)
    return _partition_out(asset_key, found)


@router.get("/assets/{asset_key:path}", summary="One asset of the loaded project")
def get_asset(asset_key: str, request: Request, scope: ReadScope) -> AssetOut:
    definitions = _project(request)
    definitions.get_asset(asset_key)  # 404 naming the assets there are
    return _asset_out(definitions, asset_key, api_state(request).clock.now())


# --- helpers ----------------------------------------------------------------------------


def _project(request: Request) -> Definitions:
    return loaded_project(api_state(request).definitions, "asset_key")


def _asset_info(request: Request, asset_key: str) -> AssetInfo:
    return _project(request).asset_info(asset_key)


def _asset_out(definitions: Definitions, asset_key: str, now: datetime) -> AssetOut:
    asset = definitions.get_asset(asset_key)
    info = definitions.asset_info(asset_key)
    partitions = asset.partitions_def
    lag = info.maximum_lag
    return AssetOut(
        asset_key=asset_key,
        partitioned=partitions is not None,
        partitions_def=None if partitions is None else dict(partitions.to_dict()),
        partitions_description=None if partitions is None else partitions.describe(now),
        partition_count=info.partition_count(now),
        deps=list(asset.dep_keys),
        code_version=asset.code_version,
        freshness_maximum_lag_minutes=None if lag is None else lag.total_seconds() / 60,
    )


def _partition_out(asset_key: str, status: PartitionStatus) -> PartitionOut:
    return PartitionOut.model_validate({"asset_key": asset_key, **status.to_dict()})


def _partition_page(found: AssetPartitionsPage) -> PartitionListPage:
    return PartitionListPage(
        items=[_partition_out(key, status) for key, status in found.items],
        next_cursor=found.next_cursor,
    )
