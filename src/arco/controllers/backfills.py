"""The backfill controller: pure decisions from (backfill rows, chunk progress, now) to events.

* :func:`preview` and :func:`create` validate a request against a partitions definition
  and count it without expanding it; ``create`` snapshots the definition into the event.
* :func:`reconcile` plans the next chunks while fewer than ``max_concurrent_runs`` are
  active — each chunk one decision, ``[BackfillChunkPlanned, RunRequested]`` (preceded by
  PENDING → RUNNING in the first) — completes a backfill whose chunks are all terminal,
  and drives a cancellation (cancel active runs, then CANCELLED).
* :func:`request_transition` turns an operator's pause/resume/cancel into a state change
  after the version and legality checks of :mod:`arco.controllers.backfill_states`.
* :func:`retry_failed` creates a child backfill over the failed partitions only.

Completion is decided here, from chunk rows the execution fold finished, and recorded as
a BackfillStateChanged whose idempotency key (``backfill_state:{id}:{version}``) makes two
controllers, or a controller racing an operator, agree on who took that version.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from arco.controllers.backfill_chunks import (
    ChunkSlicer,
    check_chunk_size,
    chunk_count,
    pin_selector,
)
from arco.controllers.backfill_states import (
    ACTION_TARGETS,
    CANCELLED,
    CANCELLING,
    FAILED,
    PENDING,
    PLANNING_STATES,
    RUNNING,
    SUCCEEDED,
    Action,
    check_request,
)
from arco.controllers.backfill_views import ActiveChunk, BackfillView, ChunkProgress
from arco.errors import IllegalTransitionError, InvalidSelectorError, ValidationError
from arco.events import (
    BackfillChunkPlanned,
    BackfillCreated,
    BackfillSource,
    BackfillState,
    BackfillStateChanged,
    KeysSelector,
    OrchestrationEvent,
    PartitionSelector,
    Payload,
    RunCancelRequested,
    RunRequested,
    backfill_run_key,
)
from arco.fold.rows import Scope
from arco.ids import request_fingerprint, run_id_from_run_key
from arco.partitions import PartitionsDefinition, partitions_def_from_dict

SecretFor = Callable[[str], str]
FINISHED_RUN_STATES = frozenset({"cancelling", "succeeded", "failed", "cancelled"})
MAX_RETRY_KEYS = 100_000
CONTROLLER = "controller:backfills"


@dataclass(frozen=True)
class BackfillPreview:
    """What a backfill would do, computed without writing or expanding anything."""

    partition_count: int
    chunk_count: int
    chunk_size: int
    first_chunk_keys: tuple[str, ...]
    selector: PartitionSelector


def preview(
    definition: PartitionsDefinition, selector: PartitionSelector, chunk_size: int, now: datetime
) -> BackfillPreview:
    """Count the selected partitions and chunks, and list the first chunk's keys."""
    check_chunk_size(chunk_size)
    pinned = pin_selector(definition, selector, now)
    resolution = definition.resolve(pinned, now)
    count = resolution.count()
    return BackfillPreview(
        count,
        chunk_count(count, chunk_size),
        chunk_size,
        tuple(resolution.keys(0, chunk_size)),
        pinned,
    )


@dataclass(frozen=True)
class BackfillRequest:
    """What an operator asks for; ``create`` checks it against the definition."""

    asset_selection: tuple[str, ...]
    selector: PartitionSelector
    chunk_size: int
    max_concurrent_runs: int | None = None  # None: no cap (every chunk may run at once)
    tags: Mapping[str, str] = field(default_factory=dict)
    client_request_id: str | None = None
    created_by: str = "system"


def create(
    scope: Scope,
    backfill_id: str,
    request: BackfillRequest,
    definition: PartitionsDefinition,
    now: datetime,
) -> OrchestrationEvent:
    """BackfillCreated for ``request``: a selector pinned to explicit bounds, never keys."""
    if not request.asset_selection:
        raise ValidationError(
            "a backfill needs at least one asset", field="asset_selection", allowed="asset keys"
        )
    found = preview(definition, request.selector, request.chunk_size, now)
    if found.partition_count == 0:
        raise InvalidSelectorError(
            "the selector matches no partition",
            field="selector",
            value=request.selector.kind,
            allowed="a selector naming at least one existing partition",
        )
    cap = request.max_concurrent_runs
    if cap is not None and cap < 1:
        raise ValidationError(
            f"max_concurrent_runs must be at least 1, got {cap}",
            field="max_concurrent_runs",
            value=cap,
            allowed=">= 1, or null for no cap",
        )
    data = BackfillCreated(
        backfill_id=backfill_id,
        asset_selection=request.asset_selection,
        selector=found.selector,
        partitions_def=dict(definition.to_dict()),
        total_partitions=found.partition_count,
        chunk_size=request.chunk_size,
        max_concurrent_runs=cap or found.chunk_count,
        tags=dict(request.tags),
        client_request_id=request.client_request_id,
        created_by=request.created_by,
    )
    return _event(scope, data, now)


def reconcile(
    backfills: Iterable[BackfillView],
    chunks: Mapping[str, ChunkProgress],
    now: datetime,
    secret_for: SecretFor,
) -> list[list[OrchestrationEvent]]:
    """Every decision due now, each one batch to append atomically."""
    decisions: list[list[OrchestrationEvent]] = []
    for view in backfills:
        progress = chunks.get(view.backfill_id, ChunkProgress())
        decisions += decide(view, progress, now, secret_for(view.scope.tenant_id))
    return decisions


def decide(
    view: BackfillView, progress: ChunkProgress, now: datetime, secret: str
) -> list[list[OrchestrationEvent]]:
    """The decisions due for one backfill."""
    if view.state == CANCELLING:
        return _drive_cancellation(view, progress, now, secret)
    if view.state not in PLANNING_STATES:
        return []  # PAUSED plans nothing and waits; terminal states are final
    # Both counts lag the truth (they were read at different moments); the larger is safe:
    # re-planning a chunk that exists is a ledger duplicate, skipping one would lose it.
    next_index = max(view.next_chunk_index, progress.planned)
    if view.state == RUNNING and progress.terminal >= view.total_chunks:
        return [[_completion(view, progress, now)]]
    active = next_index - progress.terminal
    wanted = min(view.max_concurrent_runs - active, view.total_chunks - next_index)
    if wanted <= 0:
        return [[_start(view, now)]] if view.state == PENDING else []
    return _plan(view, next_index, wanted, now, secret)


def _plan(
    view: BackfillView, first: int, count: int, now: datetime, secret: str
) -> list[list[OrchestrationEvent]]:
    slicer = ChunkSlicer(_definition(view), view.selector, view.chunk_size)
    after = view.last_planned_key if first == view.next_chunk_index else None
    decisions: list[list[OrchestrationEvent]] = []
    for index in range(first, first + count):
        keys = slicer.keys(index, after)
        if not keys:
            break  # the definition yields fewer keys than counted: nothing more to plan
        after = keys[-1]
        batch = [_start(view, now)] if view.state == PENDING and not decisions else []
        batch += _chunk_events(view, index, keys, now, secret)
        decisions.append(batch)
    return decisions


def _chunk_events(
    view: BackfillView, index: int, keys: list[str], now: datetime, secret: str
) -> list[OrchestrationEvent]:
    run_key = backfill_run_key(view.backfill_id, index)
    selection = KeysSelector(keys=tuple(keys))
    tags = {**view.tags, "arco/backfill_id": view.backfill_id}
    scope = view.scope
    request = RunRequested(
        run_key=run_key,
        run_id=run_id_from_run_key(scope.tenant_id, scope.workspace_id, run_key, secret),
        request_fingerprint=request_fingerprint(
            view.asset_selection, selection.model_dump(mode="json"), tags
        ),
        asset_selection=view.asset_selection,
        partition_selection=selection,
        tags=tags,
        source=BackfillSource(backfill_id=view.backfill_id, chunk_index=index),
    )
    planned = BackfillChunkPlanned(
        backfill_id=view.backfill_id, chunk_index=index, partition_keys=tuple(keys), run_key=run_key
    )
    cause = view.created_event_id
    return [_event(scope, planned, now, cause), _event(scope, request, now, cause)]


def _start(view: BackfillView, now: datetime) -> OrchestrationEvent:
    return _transition(view, RUNNING, now, "first chunk planned")


def _completion(view: BackfillView, progress: ChunkProgress, now: datetime) -> OrchestrationEvent:
    to = SUCCEEDED if progress.failed + progress.cancelled == 0 else FAILED
    reason = (
        f"{progress.succeeded} succeeded, {progress.failed} failed, "
        f"{progress.cancelled} cancelled of {view.total_chunks} chunks"
    )
    return _transition(view, to, now, reason)


def _drive_cancellation(
    view: BackfillView, progress: ChunkProgress, now: datetime, secret: str
) -> list[list[OrchestrationEvent]]:
    if max(view.next_chunk_index, progress.planned) <= progress.terminal:
        return [[_transition(view, CANCELLED, now, "no chunk active")]]
    decisions = []
    for chunk in progress.active:
        if chunk.run_state in FINISHED_RUN_STATES:
            continue  # already being cancelled, or finished: nothing to ask
        run_id = chunk.run_id or run_id_from_run_key(
            view.scope.tenant_id,
            view.scope.workspace_id,
            backfill_run_key(view.backfill_id, chunk.chunk_index),
            secret,
        )
        cancel = RunCancelRequested(
            run_id=run_id, requested_by=f"backfill:{view.backfill_id}", reason="backfill cancelled"
        )
        decisions.append([_event(view.scope, cancel, now, view.created_event_id)])
    return decisions


def request_transition(
    view: BackfillView,
    action: Action,
    expected_state_version: int,
    now: datetime,
    *,
    actor: str = "operator",
    reason: str | None = None,
) -> OrchestrationEvent | None:
    """The state change an operator asks for, or None if that very change already happened.

    A retried request (same action, made against the version just before the current
    one, which that action produced) is answered as done rather than as a conflict.
    """
    target = ACTION_TARGETS[action]
    if (
        expected_state_version + 1 == view.state_version
        and view.state == target
        and view.last_transition_to == target
    ):
        return None
    check_request(view.backfill_id, view.state, view.state_version, action, expected_state_version)
    return _transition(view, target, now, reason, changed_by=actor)


def retry_failed(
    parent: BackfillView,
    failed_keys: Sequence[str],
    *,
    backfill_id: str,
    retry_request_id: str,
    now: datetime,
    created_by: str = "system",
) -> OrchestrationEvent:
    """A new backfill over ``failed_keys`` of ``parent`` only, linked to it."""
    if parent.state not in (FAILED, CANCELLED):
        raise IllegalTransitionError(
            f"backfill {parent.backfill_id} is {parent.state.value}; only a FAILED or "
            "CANCELLED backfill has failed partitions to retry",
            field="state",
            value=parent.state.value,
            allowed=[FAILED.value, CANCELLED.value],
            details={"backfill_id": parent.backfill_id, "current_state": parent.state.value},
        )
    keys = tuple(dict.fromkeys(failed_keys))
    if not keys or len(keys) > MAX_RETRY_KEYS:
        raise ValidationError(
            f"backfill {parent.backfill_id} has {len(keys)} failed partitions to retry",
            field="backfill_id",
            value=parent.backfill_id,
            allowed=f"a backfill with 1..{MAX_RETRY_KEYS} failed partitions",
        )
    data = BackfillCreated(
        backfill_id=backfill_id,
        asset_selection=parent.asset_selection,
        selector=KeysSelector(keys=keys),
        partitions_def=dict(parent.partitions_def),
        total_partitions=len(keys),
        chunk_size=parent.chunk_size,
        max_concurrent_runs=parent.max_concurrent_runs,
        tags=dict(parent.tags),
        parent_backfill_id=parent.backfill_id,
        retry_request_id=retry_request_id,
        created_by=created_by,
    )
    return _event(parent.scope, data, now)


def _transition(
    view: BackfillView,
    to: BackfillState,
    now: datetime,
    reason: str | None,
    *,
    changed_by: str = CONTROLLER,
) -> OrchestrationEvent:
    data = BackfillStateChanged(
        backfill_id=view.backfill_id,
        from_state=view.state,
        to_state=to,
        state_version=view.state_version + 1,
        changed_by=changed_by,
        reason=reason,
    )
    return _event(view.scope, data, now, view.created_event_id)


def _event(
    scope: Scope, data: Payload, now: datetime, causation_id: str | None = None
) -> OrchestrationEvent:
    return OrchestrationEvent.new(
        scope.tenant_id, scope.workspace_id, data, now=now, causation_id=causation_id
    )


def _definition(view: BackfillView) -> PartitionsDefinition:
    return partitions_def_from_dict(view.partitions_def)


def _int(value: object) -> int:
    return value if isinstance(value, int) else 0


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


__all__ = [
    "ActiveChunk",
    "BackfillPreview",
    "BackfillRequest",
    "BackfillView",
    "ChunkProgress",
    "create",
    "decide",
    "preview",
    "reconcile",
    "request_transition",
    "retry_failed",
]
