"""Partition status reads: one partition, pages of an asset's partitions, stale ones, a summary.

Status and staleness are computed when read, with the clock's ``now`` and the asset's
current definition (:class:`~arco.partitions.status.AssetInfo`, built by the caller
from the user's definitions).  Two ways to page:

* in **definition order** (no filter, or ``NEVER_MATERIALIZED``): walk the
  definition's keys lazily and look their rows up, so keys without a row appear;
  a ``NEVER_MATERIALIZED`` page scans at most :data:`SCAN_BUDGET` keys and may come
  back short (or empty) with a cursor to continue;
* in **partition-key order** (a status that needs a row, and the stale list): let SQL
  filter on the status expression and page on the key.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from arco.errors import InvalidPartitionKeyError, ValidationError
from arco.events.execution import UNPARTITIONED
from arco.fold.rows import Doc
from arco.partitions.status import (
    AssetInfo,
    DisplayStatus,
    PartitionRecord,
    PartitionStatus,
    StatusSummary,
    Upstream,
    parse_instant,
    partition_status,
    summarize,
)
from arco.sdk.assets import AssetsDefinition
from arco.sdk.definitions import Definitions
from arco.services import ServiceContext
from arco.storage.partition_status import StatusSql, latest_materialization, rows_for_keys

MAX_LIMIT = 1000
SCAN_BUDGET = 20_000
_SCAN_BATCH = 1000


@dataclass(frozen=True)
class PartitionPage:
    items: list[PartitionStatus]
    next_cursor: str | None = None


@dataclass(frozen=True)
class AssetPartitionsPage:
    """(asset key, status) pairs of one asset or of several, in asset-key order."""

    items: list[tuple[str, PartitionStatus]]
    next_cursor: str | None = None


PageOf = Callable[[AssetInfo, str | None, int], PartitionPage]


def asset_infos(assets: Iterable[AssetsDefinition]) -> dict[str, AssetInfo]:
    """What the read side needs from the user's assets, keyed by asset key.

    Partition mappings follow the run planner's rules: a declared mapping wins, the
    default is ``identity`` when both sides are partitioned, and ``all`` whenever either
    side is not.  Upstreams outside the definitions are not Arco's to track and are left out.
    """
    by_key = {asset.key: asset for asset in assets}
    infos: dict[str, AssetInfo] = {}
    for asset in by_key.values():
        upstreams = []
        for dep in asset.deps:
            upstream = by_key.get(dep.key)
            if upstream is None:
                continue
            unpartitioned = asset.partitions_def is None or upstream.partitions_def is None
            declared = None if dep.partition_mapping is None else dep.partition_mapping.kind
            mapping: Literal["identity", "all"] = (
                "all" if unpartitioned or declared == "all" else "identity"
            )
            upstreams.append(Upstream(dep.key, mapping))
        policy = asset.freshness_policy
        infos[asset.key] = AssetInfo(
            asset.key,
            asset.partitions_def,
            tuple(upstreams),
            code_version=asset.code_version,
            maximum_lag=None if policy is None else policy.maximum_lag,
        )
    return infos


def get_partition(ctx: ServiceContext, asset: AssetInfo, partition_key: str) -> PartitionStatus:
    """One partition's status; the key must exist in the asset's definition now."""
    now = ctx.clock.now()
    if asset.partitions_def is None:
        if partition_key != UNPARTITIONED:
            raise InvalidPartitionKeyError(
                f"asset {asset.asset_key!r} is not partitioned",
                field="partition_key",
                value=partition_key,
                allowed=[UNPARTITIONED],
            )
    else:
        asset.partitions_def.validate_key(partition_key, now)
    return _statuses(ctx, asset, [partition_key], now)[0]


def list_partitions(
    ctx: ServiceContext,
    asset: AssetInfo,
    *,
    status: DisplayStatus | str | None = None,
    cursor: str | None = None,
    limit: int = 100,
) -> PartitionPage:
    """The asset's partitions, optionally only those with one display status."""
    wanted = None if status is None else _status(status)
    limit = _limit(limit)
    now = ctx.clock.now()
    if wanted is None or wanted == DisplayStatus.NEVER_MATERIALIZED:
        return _walk_definition(ctx, asset, wanted, _decode_index(cursor), limit, now)
    sql = StatusSql(ctx.reader.engine, ctx.scope, asset, now)
    after = _decode_key(cursor)
    docs = sql.page(statuses=[wanted], after_key=after, limit=limit + 1)
    return _sql_page(ctx, asset, docs, limit, now)


def list_stale_partitions(
    ctx: ServiceContext, asset: AssetInfo, *, cursor: str | None = None, limit: int = 100
) -> PartitionPage:
    """Materialized partitions that are stale now, in partition-key order, with reasons."""
    limit = _limit(limit)
    now = ctx.clock.now()
    sql = StatusSql(ctx.reader.engine, ctx.scope, asset, now)
    docs = sql.page(stale_only=True, after_key=_decode_key(cursor), limit=limit + 1)
    return _sql_page(ctx, asset, docs, limit, now)


def asset_summary(ctx: ServiceContext, asset: AssetInfo) -> StatusSummary:
    """Partitions counted per display status and staleness reason: one SQL aggregate."""
    now = ctx.clock.now()
    counts = StatusSql(ctx.reader.engine, ctx.scope, asset, now).counts()
    return summarize(asset, now, counts.by_status, counts.by_reason, counts.last_attempt_failed)


def list_partitions_across(
    ctx: ServiceContext,
    definitions: Definitions,
    asset_key: str | None = None,
    *,
    status: DisplayStatus | str | None = None,
    cursor: str | None = None,
    limit: int = 100,
) -> AssetPartitionsPage:
    """:func:`list_partitions` of one asset, or of every asset in key order."""
    return _across_assets(
        definitions,
        asset_key,
        cursor,
        limit,
        lambda info, inner, n: list_partitions(ctx, info, status=status, cursor=inner, limit=n),
    )


def list_stale_across(
    ctx: ServiceContext,
    definitions: Definitions,
    asset_key: str | None = None,
    *,
    cursor: str | None = None,
    limit: int = 100,
) -> AssetPartitionsPage:
    """:func:`list_stale_partitions` of one asset, or of every asset in key order."""
    return _across_assets(
        definitions,
        asset_key,
        cursor,
        limit,
        lambda info, inner, n: list_stale_partitions(ctx, info, cursor=inner, limit=n),
    )


def _across_assets(
    definitions: Definitions,
    asset_key: str | None,
    cursor: str | None,
    limit: int,
    page_of: PageOf,
) -> AssetPartitionsPage:
    """Pages of one asset, or of every asset in key order under one cursor.

    The cursor names the asset and that asset's own cursor, so a page that stops inside
    an asset continues there; a short page with a cursor means "scan on".
    """
    keys = sorted(definitions.assets_by_key)
    if asset_key is not None and asset_key not in definitions.assets_by_key:
        raise ValidationError(
            f"unknown asset {asset_key!r}", field="asset_key", value=asset_key, allowed=keys
        )
    wanted = keys if asset_key is None else [asset_key]
    position, inner = _decode_asset_cursor(cursor, wanted)
    items: list[tuple[str, PartitionStatus]] = []
    for index in range(position, len(wanted)):
        key = wanted[index]
        found = page_of(definitions.asset_info(key), inner, limit - len(items))
        items += [(key, item) for item in found.items]
        inner = None
        if found.next_cursor is not None:
            return AssetPartitionsPage(items, _encode(key, found.next_cursor))
        if len(items) >= limit:
            more = index + 1 < len(wanted)
            return AssetPartitionsPage(items, _encode(wanted[index + 1], None) if more else None)
    return AssetPartitionsPage(items)


def _walk_definition(
    ctx: ServiceContext,
    asset: AssetInfo,
    wanted: DisplayStatus | None,
    offset: int,
    limit: int,
    now: datetime,
) -> PartitionPage:
    if wanted is None:
        keys = asset.keys(offset, limit + 1, now)
        items = _statuses(ctx, asset, keys[:limit], now)
        more = len(keys) > limit
        return PartitionPage(items, _encode("i", offset + limit) if more else None)
    found: list[PartitionStatus] = []
    position = offset
    while len(found) < limit and position - offset < SCAN_BUDGET:
        keys = asset.keys(position, _SCAN_BATCH, now)
        if not keys:
            return PartitionPage(found, None)
        for index, item in enumerate(_statuses(ctx, asset, keys, now)):
            if item.status == wanted:
                found.append(item)
                if len(found) == limit:
                    position += index + 1
                    break
        else:
            position += len(keys)
    done = position >= asset.partition_count(now)
    return PartitionPage(found, None if done else _encode("i", position))


def _sql_page(
    ctx: ServiceContext, asset: AssetInfo, docs: list[Doc], limit: int, now: datetime
) -> PartitionPage:
    page = docs[:limit]
    keys = [str(doc["partition_key"]) for doc in page]
    items = _statuses(ctx, asset, keys, now, rows=page)
    more = len(docs) > limit
    return PartitionPage(items, _encode("k", keys[-1]) if more and keys else None)


def _statuses(
    ctx: ServiceContext,
    asset: AssetInfo,
    keys: Sequence[str],
    now: datetime,
    rows: Iterable[Doc] | None = None,
) -> list[PartitionStatus]:
    """Status of each key from its row and the rows of the upstream partitions it maps to."""
    engine, scope = ctx.reader.engine, ctx.scope
    if rows is None:
        rows = rows_for_keys(engine, scope, [asset.asset_key], keys)
    records = {str(doc["partition_key"]): PartitionRecord.from_doc(doc) for doc in rows}
    upstream: dict[str, list[datetime]] = {}
    for doc in rows_for_keys(engine, scope, asset.identity_upstreams, keys):
        at = parse_instant(doc.get("last_materialization_at"))
        if at is not None:
            upstream.setdefault(str(doc["partition_key"]), []).append(at)
    latest_all = parse_instant(latest_materialization(engine, scope, asset.all_upstreams))
    shared = [] if latest_all is None else [latest_all]
    return [
        partition_status(asset, key, records.get(key), [*upstream.get(key, []), *shared], now)
        for key in keys
    ]


def _status(value: DisplayStatus | str) -> DisplayStatus:
    try:
        return DisplayStatus(value)
    except ValueError:
        raise ValidationError(
            f"unknown partition status {value!r}",
            field="status",
            value=str(value),
            allowed=[s.value for s in DisplayStatus],
        ) from None


def _limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationError(
            f"limit must be between 1 and {MAX_LIMIT}",
            field="limit",
            value=limit,
            allowed=f"1..{MAX_LIMIT}",
        )
    return limit


def _encode(first: str, second: int | str | None) -> str:
    raw = json.dumps([first, second], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _pair(cursor: str) -> tuple[object, object]:
    """What ``_encode`` made ``cursor`` from (ValueError or TypeError if it did not)."""
    padded = cursor + "=" * (-len(cursor) % 4)
    first, second = json.loads(base64.urlsafe_b64decode(padded.encode()))
    return first, second


def _decode_index(cursor: str | None) -> int:
    if cursor is None:
        return 0
    value = _decode(cursor, "i")
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise _bad_cursor(cursor)
    return value


def _decode_key(cursor: str | None) -> str | None:
    if cursor is None:
        return None
    value = _decode(cursor, "k")
    if not isinstance(value, str):
        raise _bad_cursor(cursor)
    return value


def _decode(cursor: str, kind: str) -> object:
    try:
        found, value = _pair(cursor)
    except (ValueError, TypeError) as error:
        raise _bad_cursor(cursor) from error
    if found != kind:
        raise _bad_cursor(cursor)
    return value


def _bad_cursor(cursor: str) -> ValidationError:
    return ValidationError(
        "cursor is not one this listing handed out", field="cursor", value=cursor
    )


def _decode_asset_cursor(cursor: str | None, assets: list[str]) -> tuple[int, str | None]:
    """(index of the asset to continue with, that asset's cursor)."""
    if cursor is None:
        return 0, None
    try:
        asset_key, inner = _pair(cursor)
    except (ValueError, TypeError) as error:
        raise _bad_asset_cursor(cursor) from error
    if not isinstance(asset_key, str) or asset_key not in assets:
        raise _bad_asset_cursor(cursor)
    if not (inner is None or isinstance(inner, str)):
        raise _bad_asset_cursor(cursor)
    return assets.index(asset_key), inner


def _bad_asset_cursor(cursor: str) -> ValidationError:
    return ValidationError(
        "cursor is not one this listing handed out (same asset_key and status?)",
        field="cursor",
        value=cursor,
    )
