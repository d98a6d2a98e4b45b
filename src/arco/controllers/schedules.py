"""The schedule controller (pure): which instants are due at ``now``, and the events recording them.

One decision per tick, appended as one batch: ``[ScheduleTicked, RunRequested]`` for a tick
that requests a run, ``[ScheduleTicked]`` for a record that requests none.  The tick embeds a
snapshot of the definition (version, assets, the partition resolved for that instant, tags)
and its run request is built from that snapshot alone (L2-INV-11).

Rules (DESIGN §5, ADR-024):
* DST comes from :class:`arco.cron.CronSchedule`; instants are whole UTC seconds (``epoch``).
* Catch-up: of the instants missed since the cursor, those more than
  ``catchup_window_minutes`` (plus one minute of grace, so that ordinary daemon latency never
  counts as missing a tick) late become one ``catchup_window`` record; of the rest, the latest
  ``max_catchup_ticks`` fire, oldest first, as Dagster does, and the older ones become one
  ``catchup_limit`` record.
* Paused: instants become ``paused`` records, the first at once, then at most one an hour
  (each says how many instants it covers), so a paused minutely schedule writes 24 rows a day
  rather than 1440.  On resume nothing paused is caught up unless ``catch_up_on_resume``.
* A cron or zone or partitions definition that cannot be used gives one ``failed`` tick per
  definition version; nothing here raises for a bad definition.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from arco.controllers.schedule_partitions import scheduled_partition_selection
from arco.cron import CronSchedule
from arco.errors import ArcoError, InvalidPartitionKeyError, InvalidPartitionRangeError
from arco.events import (
    OrchestrationEvent,
    RunRequested,
    ScheduleSource,
    ScheduleTicked,
)
from arco.events.schedules import (
    CATCHUP_LIMIT,
    CATCHUP_WINDOW,
    INVALID_DEFINITION,
    NO_PARTITION,
    PARTITION_ERROR,
    PAUSED,
    ScheduleSpec,
    TickSnapshot,
    failed_tick_id,
    invalid_definition_tick_id,
    schedule_run_key,
    skipped_tick_id,
    tick_id,
)
from arco.ids import request_fingerprint, run_id_from_run_key
from arco.partitions import partitions_def_from_dict

PAUSED_RECORD_INTERVAL = 3600  # seconds between two `paused` records of one schedule
ON_TIME_GRACE = 60  # seconds late a tick may be and still count as inside any catch-up window
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# What a definition that cannot be used raises; it becomes a failed tick, never a crash.
_UNUSABLE = (ArcoError, ValueError, TypeError, OverflowError)
SecretFor = Callable[[str], str]
Decision = list[OrchestrationEvent]


@dataclass(frozen=True)
class ScheduleDefinition:
    """A schedule as the controller needs it: the spec plus when it started, paused, resumed."""

    tenant_id: str
    workspace_id: str
    schedule_id: str
    definition_version: int
    spec: ScheduleSpec
    enabled: bool
    created_at: datetime
    paused_at: datetime | None = None
    resumed_at: datetime | None = None
    timing_changed_at: datetime | None = None

    @classmethod
    def from_doc(
        cls, tenant_id: str, workspace_id: str, doc: Mapping[str, object]
    ) -> ScheduleDefinition:
        """The controller's view of a ``schedule_definitions`` row."""
        version = doc["definition_version"]
        if not isinstance(version, int):
            raise TypeError(f"definition_version is not an int: {version!r}")
        return cls(
            tenant_id=tenant_id,
            workspace_id=workspace_id,
            schedule_id=str(doc["schedule_id"]),
            definition_version=version,
            spec=ScheduleSpec.model_validate(doc["spec"]),
            enabled=bool(doc["enabled"]),
            created_at=_parse_instant(doc["created_at"]) or _EPOCH,
            paused_at=_parse_instant(doc.get("paused_at")),
            resumed_at=_parse_instant(doc.get("resumed_at")),
            timing_changed_at=_parse_instant(doc.get("timing_changed_at")),
        )


@dataclass(frozen=True)
class ScheduleState:
    """The controller's cursor: the last instant decided, and the last one recorded paused."""

    last_scheduled_epoch: int | None = None
    last_paused_epoch: int | None = None

    @classmethod
    def from_doc(cls, doc: Mapping[str, object] | None) -> ScheduleState:
        if doc is None:
            return cls()
        last, paused = doc.get("last_scheduled_epoch"), doc.get("last_paused_epoch")
        return cls(
            last_scheduled_epoch=last if isinstance(last, int) else None,
            last_paused_epoch=paused if isinstance(paused, int) else None,
        )


@dataclass(frozen=True)
class Evaluation:
    """What one schedule needs at ``now``: decisions to append, and when to look again."""

    decisions: list[Decision]
    next_due: datetime | None


# --- what is due: intents, computed without secrets or events ----------------------------


@dataclass(frozen=True)
class _Trigger:
    epoch: int


@dataclass(frozen=True)
class _Skip:
    reason: str
    first: int
    last: int
    count: int


@dataclass(frozen=True)
class _Invalid:
    error: str


_Intent = _Trigger | _Skip | _Invalid


def reconcile(
    definitions: Sequence[ScheduleDefinition],
    states: Mapping[str, ScheduleState],
    now: datetime,
    secret_for: SecretFor,
) -> list[Decision]:
    """Every decision due at ``now`` for ``definitions`` (states keyed by schedule id)."""
    decisions: list[Decision] = []
    for definition in definitions:
        state = states.get(definition.schedule_id, ScheduleState())
        decisions += evaluate(definition, state, now, secret_for).decisions
    return decisions


def evaluate(
    definition: ScheduleDefinition, state: ScheduleState, now: datetime, secret_for: SecretFor
) -> Evaluation:
    """The decisions of one schedule at ``now`` and the next instant it will have work."""
    intents, due = _plan(definition, state, now)
    decisions = [_decide(definition, intent, now, secret_for) for intent in intents]
    return Evaluation(decisions, due)


def next_due(
    definition: ScheduleDefinition, state: ScheduleState, now: datetime
) -> datetime | None:
    """When this schedule next has work, assuming the decisions due at ``now`` are recorded."""
    return _plan(definition, state, now)[1]


def manual_tick(definition: ScheduleDefinition, now: datetime, secret: str) -> Decision:
    """A manual trigger: tick ``{schedule_id}:manual:{epoch}`` from the current definition."""
    epoch = _floor(now)
    try:
        _compile(definition.spec)
    except _UNUSABLE as error:
        failed = _failed(definition, epoch, INVALID_DEFINITION, str(error), manual=True)
        return [_tick_event(definition, now, failed)]
    return _tick_decision(definition, epoch, now, secret, manual=True)


def _plan(
    definition: ScheduleDefinition, state: ScheduleState, now: datetime
) -> tuple[list[_Intent], datetime | None]:
    try:
        cron = _compile(definition.spec)
    except _UNUSABLE as error:
        return [_Invalid(str(error))], None
    n = _floor(now)
    if not definition.enabled:
        return _plan_paused(definition, cron, state, n)
    intents: list[_Intent] = []
    lower = _started(definition, state)
    spec = definition.spec
    if definition.resumed_at is not None and not spec.catch_up_on_resume:
        resumed = _floor(definition.resumed_at)
        # Instants of the pause that no `paused` record covers yet get one now.
        paused_from = max(lower, state.last_paused_epoch or lower)
        intents += _skip_all(cron, PAUSED, paused_from, resumed)
        lower = max(lower, resumed)
    intents += _catch_up(cron, lower, n, spec)
    return intents, cron.next_after(max(now, _at(lower)))


def _plan_paused(
    definition: ScheduleDefinition, cron: CronSchedule, state: ScheduleState, n: int
) -> tuple[list[_Intent], datetime | None]:
    lower = max(_started(definition, state), state.last_paused_epoch or 0)
    paused_since = _floor(definition.paused_at or definition.created_at)
    last_record = state.last_paused_epoch
    recorded = last_record is not None and last_record >= paused_since
    intents: list[_Intent] = []
    count = _count(cron, lower + 1, n + 1)
    if count:
        latest = _nth(cron, lower + 1, count - 1)
        if not recorded or latest - (last_record or 0) >= PAUSED_RECORD_INTERVAL:
            intents.append(_Skip(PAUSED, _nth(cron, lower + 1, 0), latest, count))
            last_record, recorded = latest, True
    earliest = n + 1
    if recorded and last_record is not None:
        earliest = max(earliest, last_record + PAUSED_RECORD_INTERVAL)
    return intents, cron.nth_at_or_after(_at(earliest), 0)


def _started(definition: ScheduleDefinition, state: ScheduleState) -> int:
    """Instants at or before this epoch are never due: decided already, or before it began."""
    bounds = [_floor(definition.created_at)]
    if state.last_scheduled_epoch is not None:
        bounds.append(state.last_scheduled_epoch)
    if definition.timing_changed_at is not None:
        # A new cron starts from the change, not from instants it would have had before.
        bounds.append(_floor(definition.timing_changed_at))
    return max(bounds)


def _catch_up(cron: CronSchedule, lower: int, n: int, spec: ScheduleSpec) -> list[_Intent]:
    start, stop = lower + 1, n + 1
    if start >= stop:
        return []
    window = max(start, n - spec.catchup_window_minutes * 60 - ON_TIME_GRACE)
    intents = _skip_all(cron, CATCHUP_WINDOW, lower, window - 1)
    inside = _count(cron, window, stop)
    dropped = max(0, inside - spec.max_catchup_ticks)
    if dropped:
        last = _nth(cron, window, dropped - 1)
        intents.append(_Skip(CATCHUP_LIMIT, _nth(cron, window, 0), last, dropped))
    if inside > dropped:
        first = cron.nth_at_or_after(_at(window), dropped)
        kept = itertools.islice(cron.iter_from(first), inside - dropped)
        intents += [_Trigger(_floor(instant)) for instant in kept]
    return intents


def _skip_all(cron: CronSchedule, reason: str, after: int, through: int) -> list[_Intent]:
    """One record for every instant in ``(after, through]``, or nothing if there is none."""
    count = _count(cron, after + 1, through + 1)
    if not count:
        return []
    return [_Skip(reason, _nth(cron, after + 1, 0), _nth(cron, after + 1, count - 1), count)]


def _compile(spec: ScheduleSpec) -> CronSchedule:
    """The cron in its zone; raises an ArcoError naming the field if the definition is unusable."""
    cron = CronSchedule(spec.cron, spec.timezone)
    if spec.partitions is not None:
        partitions_def_from_dict(spec.partitions.partitions_def)
    return cron


# --- from intents to events --------------------------------------------------------------


def _decide(
    definition: ScheduleDefinition, intent: _Intent, now: datetime, secret_for: SecretFor
) -> Decision:
    sid = definition.schedule_id
    if isinstance(intent, _Trigger):
        return _tick_decision(definition, intent.epoch, now, secret_for(definition.tenant_id))
    if isinstance(intent, _Skip):
        record = ScheduleTicked(
            schedule_id=sid,
            tick_id=skipped_tick_id(sid, intent.reason, intent.first),
            scheduled_epoch=intent.first,
            status="skipped",
            reason=intent.reason,
            skipped_count=intent.count,
            skipped_through_epoch=intent.last,
        )
        return [_tick_event(definition, now, record)]
    invalid = ScheduleTicked(
        schedule_id=sid,
        tick_id=invalid_definition_tick_id(sid, definition.definition_version),
        scheduled_epoch=_floor(now),
        status="failed",
        reason=INVALID_DEFINITION,
        error=intent.error,
    )
    return [_tick_event(definition, now, invalid)]


def _tick_decision(
    definition: ScheduleDefinition, epoch: int, now: datetime, secret: str, *, manual: bool = False
) -> Decision:
    sid, spec = definition.schedule_id, definition.spec
    try:
        selection = scheduled_partition_selection(spec.partitions, _at(epoch))
    except (InvalidPartitionKeyError, InvalidPartitionRangeError) as error:
        message = f"no partition for the tick at {_at(epoch).isoformat()}: {error.message}"
        skipped = ScheduleTicked(
            schedule_id=sid,
            tick_id=tick_id(sid, epoch, manual=True)
            if manual
            else skipped_tick_id(sid, NO_PARTITION, epoch),
            scheduled_epoch=epoch,
            status="skipped",
            reason=NO_PARTITION,
            error=message,
            manual=manual,
            skipped_count=1,
            skipped_through_epoch=epoch,
        )
        return [_tick_event(definition, now, skipped)]
    except _UNUSABLE as error:
        failed = _failed(definition, epoch, PARTITION_ERROR, str(error), manual=manual)
        return [_tick_event(definition, now, failed)]
    snapshot = TickSnapshot(
        definition_version=definition.definition_version,
        asset_selection=spec.asset_selection,
        partition_selection=selection,
        tags=dict(spec.tags),
    )
    run_key = schedule_run_key(sid, epoch, manual=manual)
    tick = ScheduleTicked(
        schedule_id=sid,
        tick_id=tick_id(sid, epoch, manual=manual),
        scheduled_epoch=epoch,
        status="triggered",
        snapshot=snapshot,
        run_key=run_key,
        run_id=run_id_from_run_key(definition.tenant_id, definition.workspace_id, run_key, secret),
        manual=manual,
    )
    tick_event = _tick_event(definition, now, tick)
    request = run_requested_for_tick(definition.tenant_id, definition.workspace_id, tick, secret)
    return [
        tick_event,
        OrchestrationEvent.new(
            definition.tenant_id,
            definition.workspace_id,
            request,
            now=now,
            causation_id=tick_event.event_id,
        ),
    ]


def _failed(
    definition: ScheduleDefinition, epoch: int, reason: str, error: str, *, manual: bool
) -> ScheduleTicked:
    sid = definition.schedule_id
    return ScheduleTicked(
        schedule_id=sid,
        tick_id=tick_id(sid, epoch, manual=True) if manual else failed_tick_id(sid, epoch),
        scheduled_epoch=epoch,
        status="failed",
        reason=reason,
        error=error,
        manual=manual,
    )


def _tick_event(
    definition: ScheduleDefinition, now: datetime, tick: ScheduleTicked
) -> OrchestrationEvent:
    return OrchestrationEvent.new(definition.tenant_id, definition.workspace_id, tick, now=now)


def run_requested_for_tick(
    tenant_id: str, workspace_id: str, tick: ScheduleTicked, secret: str
) -> RunRequested:
    """The run a triggered tick asks for, from its embedded snapshot only (L2-INV-11)."""
    if tick.snapshot is None or tick.run_key is None:
        raise ValueError(f"tick {tick.tick_id} has no snapshot or run key: it requests no run")
    snapshot = tick.snapshot
    selection = snapshot.partition_selection
    return RunRequested(
        run_key=tick.run_key,
        run_id=run_id_from_run_key(tenant_id, workspace_id, tick.run_key, secret),
        request_fingerprint=request_fingerprint(
            snapshot.asset_selection,
            None if selection is None else selection.model_dump(mode="json"),
            snapshot.tags,
        ),
        asset_selection=snapshot.asset_selection,
        partition_selection=selection,
        tags=dict(snapshot.tags),
        source=ScheduleSource(schedule_id=tick.schedule_id, tick_id=tick.tick_id),
    )


# --- instants as whole epoch seconds -------------------------------------------------------


def _floor(instant: datetime) -> int:
    return (instant - _EPOCH) // timedelta(seconds=1)


def _at(epoch: int) -> datetime:
    return _EPOCH + timedelta(seconds=epoch)


def _count(cron: CronSchedule, start: int, stop: int) -> int:
    """Instants in ``[start, stop)``."""
    return cron.count_between(_at(start), _at(stop)) if start < stop else 0


def _nth(cron: CronSchedule, start: int, k: int) -> int:
    return _floor(cron.nth_at_or_after(_at(start), k))


def _parse_instant(value: object) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"expected an ISO 8601 instant, got {value!r}")
    return datetime.fromisoformat(value).astimezone(UTC)


def iter_instants(definition: ScheduleDefinition, after: datetime) -> Iterator[datetime]:
    """The schedule's instants after ``after`` (for previews such as "next ticks")."""
    return _compile(definition.spec).iter_from(_at(_floor(after) + 1))
