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

import base64
import json
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from arco.api.errors import ERROR_RESPONSES
from arco.api.params import Paging, ReadScope
from arco.api.state import api_state, service_context
from arco.errors import ConflictError, ValidationError
from arco.partitions.status import AssetInfo, DisplayStatus, PartitionStatus
from arco.sdk.definitions import Definitions
from arco.services import partitions as service
from arco.services.partitions import PartitionPage

router = APIRouter(tags=["partitions"], responses=ERROR_RESPONSES)

STATUS_HELP = ", ".join(status.value for status in DisplayStatus)


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
    partition_count: int = Field(description="Partitions that exist now (1 when unpartitioned)")
    deps: list[str] = Field(default_factory=list)
    code_version: str | None = None
    freshness_maximum_lag_minutes: float | None = None


class AssetPage(BaseModel):
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


class PartitionListPage(BaseModel):
    items: list[PartitionOut]
    next_cursor: str | None = None


class SummaryOut(BaseModel):
    asset_key: str
    total: int = Field(description="Partitions that exist now")
    counts: dict[str, int] = Field(description="Partitions per display status")
    stale_by_reason: dict[str, int]
    last_attempt_failed: int = Field(description="Partitions whose latest attempt failed")


StatusQuery = Annotated[str | None, Query(description=f"Only this display status: {STATUS_HELP}")]
AssetQuery = Annotated[
    str | None, Query(min_length=1, description="Only this asset (default: every asset)")
]


# --- routes ---------------------------------------------------------------------------


@router.get("/assets", summary="The loaded project's assets and how each is partitioned")
def list_assets(request: Request, scope: ReadScope) -> AssetPage:
    definitions = loaded_project(request, "asset_key")
    now = api_state(request).clock.now()
    return AssetPage(
        items=[_asset_out(definitions, key, now) for key in sorted_assets(definitions)]
    )


@router.get("/partitions", summary="Partitions with their status, one asset or every asset")
def list_partitions(
    request: Request,
    scope: ReadScope,
    page: Paging,
    asset_key: AssetQuery = None,
    status: StatusQuery = None,
) -> PartitionListPage:
    ctx = service_context(request, scope)
    return _across_assets(
        request,
        asset_key,
        page.cursor,
        page.limit,
        lambda info, cursor, limit: service.list_partitions(
            ctx, info, status=status, cursor=cursor, limit=limit
        ),
    )


@router.get("/partitions/stale", summary="Materialized partitions that are stale now, with why")
def list_stale(
    request: Request, scope: ReadScope, page: Paging, asset_key: AssetQuery = None
) -> PartitionListPage:
    ctx = service_context(request, scope)
    return _across_assets(
        request,
        asset_key,
        page.cursor,
        page.limit,
        lambda info, cursor, limit: service.list_stale_partitions(
            ctx, info, cursor=cursor, limit=limit
        ),
    )


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
    definitions = loaded_project(request, "asset_key")
    definitions.get_asset(asset_key)  # 404 naming the assets there are
    return _asset_out(definitions, asset_key, api_state(request).clock.now())


# --- helpers (the backfills router shares loaded_project) ------------------------------


def loaded_project(request: Request, field: str) -> Definitions:
    """The project the server loaded, or a 409 that says how to load one."""
    definitions = api_state(request).definitions
    if not isinstance(definitions, Definitions):
        raise ConflictError(
            "this server has no project loaded, so it knows no assets or partitions; "
            "start it with the project: arco serve -f definitions.py (or -m module)",
            field=field,
            allowed="a server started with -f FILE or -m MODULE",
            details={"reason": "no_project_loaded"},
        )
    return definitions


def sorted_assets(definitions: Definitions) -> list[str]:
    return sorted(definitions.assets_by_key)


def _asset_info(request: Request, asset_key: str) -> AssetInfo:
    return loaded_project(request, "asset_key").asset_info(asset_key)


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


PageOf = Callable[[AssetInfo, str | None, int], PartitionPage]


def _across_assets(
    request: Request, asset_key: str | None, cursor: str | None, limit: int, page_of: PageOf
) -> PartitionListPage:
    """Pages of one asset, or of every asset in key order under one cursor.

    The cursor names the asset and that asset's own cursor, so a page that stops inside
    an asset continues there; a short page with a cursor means "scan on".
    """
    definitions = loaded_project(request, "asset_key")
    keys = sorted_assets(definitions)
    if asset_key is not None and asset_key not in definitions.assets_by_key:
        raise ValidationError(
            f"unknown asset {asset_key!r}", field="asset_key", value=asset_key, allowed=keys
        )
    wanted = keys if asset_key is None else [asset_key]
    position, inner = _decode_cursor(cursor, wanted)
    items: list[PartitionOut] = []
    for index in range(position, len(wanted)):
        key = wanted[index]
        found = page_of(definitions.asset_info(key), inner, limit - len(items))
        items += [_partition_out(key, item) for item in found.items]
        inner = None
        if found.next_cursor is not None:
            return PartitionListPage(
                items=items, next_cursor=_encode_cursor(key, found.next_cursor)
            )
        if len(items) >= limit:
            more = index + 1 < len(wanted)
            return PartitionListPage(
                items=items, next_cursor=_encode_cursor(wanted[index + 1], None) if more else None
            )
    return PartitionListPage(items=items)


def _encode_cursor(asset_key: str, inner: str | None) -> str:
    raw = json.dumps([asset_key, inner], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str | None, assets: list[str]) -> tuple[int, str | None]:
    """(index of the asset to continue with, that asset's cursor)."""
    if cursor is None:
        return 0, None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        asset_key, inner = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, TypeError) as error:
        raise _bad_cursor(cursor) from error
    if asset_key not in assets or not (inner is None or isinstance(inner, str)):
        raise _bad_cursor(cursor)
    return assets.index(asset_key), inner


def _bad_cursor(cursor: str) -> ValidationError:
    return ValidationError(
        "cursor is not one this listing handed out (same asset_key and status?)",
        field="cursor",
        value=cursor,
    )
