"""Display status and staleness of one partition, computed at read time with ``now``.

The fold keeps facts per partition (last attempt, last materialization, in
progress); whether a partition is *stale* depends on the clock, on the current
definition (code version, freshness policy) and on upstream partitions, so it is
decided here, when read, never stored.

Display status, first match wins:

1. ``IN_PROGRESS`` — an attempt is dispatched or running;
2. ``NEVER_MATERIALIZED`` — no attempt ever succeeded (also every key without a row);
3. ``MATERIALIZED_LAST_ATTEMPT_FAILED`` — materialized once, but the latest attempt failed;
4. ``STALE`` — materialized, with at least one staleness reason;
5. ``MATERIALIZED``.

Staleness reasons of a materialized partition: ``FRESHNESS_POLICY`` (materialized more
than ``maximum_lag`` before ``now``), ``UPSTREAM_CHANGED`` (a mapped upstream partition
materialized after it), ``CODE_CHANGED`` (its code version is not the definition's).
A partition never materialized is stale with reason ``NEVER_MATERIALIZED``.
``stale_since`` is the earliest instant a reason became true, when it is known: the
lag running out, or the first later upstream materialization.  When only the code
changed it is unknown (the definition does not say when that code was deployed).

:mod:`arco.storage.partition_status` computes the same rules in SQL for counts; a
contract test checks that both agree.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from itertools import islice
from typing import Literal

from arco.events.execution import UNPARTITIONED
from arco.partitions.definition import PartitionsDefinition


class DisplayStatus(StrEnum):
    NEVER_MATERIALIZED = "NEVER_MATERIALIZED"
    MATERIALIZED = "MATERIALIZED"
    MATERIALIZED_LAST_ATTEMPT_FAILED = "MATERIALIZED_LAST_ATTEMPT_FAILED"
    STALE = "STALE"
    IN_PROGRESS = "IN_PROGRESS"


class StaleReason(StrEnum):
    FRESHNESS_POLICY = "FRESHNESS_POLICY"
    UPSTREAM_CHANGED = "UPSTREAM_CHANGED"
    CODE_CHANGED = "CODE_CHANGED"
    NEVER_MATERIALIZED = "NEVER_MATERIALIZED"


ROW_REASONS = (StaleReason.FRESHNESS_POLICY, StaleReason.UPSTREAM_CHANGED, StaleReason.CODE_CHANGED)


@dataclass(frozen=True)
class Upstream:
    """A dependency: partition ``k`` reads partition ``k`` of it (identity) or all of it."""

    asset_key: str
    mapping: Literal["identity", "all"] = "identity"


@dataclass(frozen=True)
class AssetInfo:
    """What the read side needs to know about an asset from the user's definitions."""

    asset_key: str
    partitions_def: PartitionsDefinition | None = None
    upstreams: tuple[Upstream, ...] = ()
    code_version: str | None = None
    maximum_lag: timedelta | None = None

    def partition_count(self, now: datetime) -> int:
        """How many partitions exist at ``now`` (an unpartitioned asset has one)."""
        return 1 if self.partitions_def is None else self.partitions_def.count(now)

    def keys(self, offset: int, limit: int, now: datetime) -> list[str]:
        """Keys ``[offset, offset + limit)`` in definition order, lazily."""
        if self.partitions_def is None:
            return [UNPARTITIONED][offset : offset + limit]
        count = self.partitions_def.count(now)
        if offset >= count:
            return []
        return list(islice(self.partitions_def.iter_keys(offset, now), min(limit, count - offset)))

    @property
    def identity_upstreams(self) -> tuple[str, ...]:
        return tuple(u.asset_key for u in self.upstreams if u.mapping == "identity")

    @property
    def all_upstreams(self) -> tuple[str, ...]:
        return tuple(u.asset_key for u in self.upstreams if u.mapping == "all")


@dataclass(frozen=True)
class PartitionRecord:
    """The facts the fold keeps for one partition (a ``partition_status`` row)."""

    partition_key: str
    in_progress: bool = False
    last_materialization_at: datetime | None = None
    last_materialization_run_id: str | None = None
    last_materialization_code_version: str | None = None
    last_attempt_outcome: str | None = None
    last_attempt_at: datetime | None = None
    last_attempt_run_id: str | None = None

    @classmethod
    def from_doc(cls, doc: Mapping[str, object]) -> PartitionRecord:
        return cls(
            partition_key=str(doc["partition_key"]),
            in_progress=doc.get("in_progress") is True,
            last_materialization_at=parse_instant(doc.get("last_materialization_at")),
            last_materialization_run_id=_str(doc.get("last_materialization_run_id")),
            last_materialization_code_version=_str(doc.get("last_materialization_code_version")),
            last_attempt_outcome=_str(doc.get("last_attempt_outcome")),
            last_attempt_at=parse_instant(doc.get("last_attempt_at")),
            last_attempt_run_id=_str(doc.get("last_attempt_run_id")),
        )


@dataclass(frozen=True)
class PartitionStatus:
    """One partition as users see it."""

    partition_key: str
    status: DisplayStatus
    stale_reasons: tuple[StaleReason, ...]
    stale_since: datetime | None
    record: PartitionRecord

    @property
    def stale(self) -> bool:
        return bool(self.stale_reasons)

    def to_dict(self) -> dict[str, object]:
        record = self.record
        return {
            "partition_key": self.partition_key,
            "status": self.status.value,
            "stale": self.stale,
            "stale_reasons": [reason.value for reason in self.stale_reasons],
            "stale_since": _iso(self.stale_since),
            "in_progress": record.in_progress,
            "last_materialization_at": _iso(record.last_materialization_at),
            "last_materialization_run_id": record.last_materialization_run_id,
            "last_materialization_code_version": record.last_materialization_code_version,
            "last_attempt_outcome": record.last_attempt_outcome,
            "last_attempt_at": _iso(record.last_attempt_at),
            "last_attempt_run_id": record.last_attempt_run_id,
        }


def partition_status(
    asset: AssetInfo,
    partition_key: str,
    record: PartitionRecord | None,
    upstream_materializations: Iterable[datetime],
    now: datetime,
) -> PartitionStatus:
    """Status and staleness of one partition; ``upstream_materializations`` are the last
    materialization times of every upstream partition it maps to."""
    record = record or PartitionRecord(partition_key)
    materialized_at = record.last_materialization_at
    if materialized_at is None:
        reasons: tuple[StaleReason, ...] = (StaleReason.NEVER_MATERIALIZED,)
        since = None
    else:
        reasons, since = _staleness(asset, record, materialized_at, upstream_materializations, now)
    return PartitionStatus(
        partition_key, display_status(record, bool(reasons)), reasons, since, record
    )


def display_status(record: PartitionRecord, stale: bool) -> DisplayStatus:
    return classify(
        in_progress=record.in_progress,
        materialized=record.last_materialization_at is not None,
        last_attempt_failed=record.last_attempt_outcome == "failed",
        stale=stale,
    )


def classify(
    *, in_progress: bool, materialized: bool, last_attempt_failed: bool, stale: bool
) -> DisplayStatus:
    """The display-status precedence, shared by per-partition reads and SQL counts."""
    if in_progress:
        return DisplayStatus.IN_PROGRESS
    if not materialized:
        return DisplayStatus.NEVER_MATERIALIZED
    if last_attempt_failed:
        return DisplayStatus.MATERIALIZED_LAST_ATTEMPT_FAILED
    return DisplayStatus.STALE if stale else DisplayStatus.MATERIALIZED


def _staleness(
    asset: AssetInfo,
    record: PartitionRecord,
    materialized_at: datetime,
    upstream_materializations: Iterable[datetime],
    now: datetime,
) -> tuple[tuple[StaleReason, ...], datetime | None]:
    reasons: list[StaleReason] = []
    since: list[datetime] = []
    if asset.maximum_lag is not None and materialized_at < now - asset.maximum_lag:
        reasons.append(StaleReason.FRESHNESS_POLICY)
        since.append(materialized_at + asset.maximum_lag)
    later = [at for at in upstream_materializations if at > materialized_at]
    if later:
        reasons.append(StaleReason.UPSTREAM_CHANGED)
        since.append(min(later))
    if (
        asset.code_version is not None
        and record.last_materialization_code_version != asset.code_version
    ):
        reasons.append(StaleReason.CODE_CHANGED)
    return tuple(reasons), min(since, default=None)


@dataclass(frozen=True)
class StatusSummary:
    """Partitions of one asset counted by display status and by staleness reason."""

    asset_key: str
    total: int
    counts: Mapping[DisplayStatus, int]
    stale_by_reason: Mapping[StaleReason, int] = field(default_factory=dict)
    last_attempt_failed: int = 0

    def to_dict(self) -> dict[str, object]:
        return {
            "asset_key": self.asset_key,
            "total": self.total,
            "counts": {status.value: self.counts.get(status, 0) for status in DisplayStatus},
            "stale_by_reason": {
                reason.value: self.stale_by_reason.get(reason, 0) for reason in StaleReason
            },
            "last_attempt_failed": self.last_attempt_failed,
        }


def summarize(
    asset: AssetInfo,
    now: datetime,
    row_counts: Mapping[DisplayStatus, int],
    row_reasons: Mapping[StaleReason, int],
    last_attempt_failed: int,
) -> StatusSummary:
    """The summary from counts over existing rows: keys without a row never materialized."""
    total = asset.partition_count(now)
    rows = sum(row_counts.values())
    counts = {status: row_counts.get(status, 0) for status in DisplayStatus}
    counts[DisplayStatus.NEVER_MATERIALIZED] += max(0, total - rows)
    reasons = {reason: row_reasons.get(reason, 0) for reason in ROW_REASONS}
    # In-progress rows may never have materialized either: the reason counts them too.
    reasons[StaleReason.NEVER_MATERIALIZED] = row_reasons.get(
        StaleReason.NEVER_MATERIALIZED, 0
    ) + max(0, total - rows)
    return StatusSummary(asset.asset_key, total, counts, reasons, last_attempt_failed)


def parse_instant(value: object) -> datetime | None:
    """A projection timestamp (``iso()`` format) as an aware datetime."""
    return datetime.fromisoformat(value) if isinstance(value, str) else None


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None
