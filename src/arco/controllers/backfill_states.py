"""The backfill state machine: its legal transitions, who takes them, and the checks.

::

    PENDING ──first chunk planned──▶ RUNNING ──every chunk terminal──▶ SUCCEEDED | FAILED
       │ └──pause──▶ PAUSED ◀──pause── │
       │            │  └────resume────▶ │
       └──cancel──▶ CANCELLING ◀─cancel─┘  (and from PAUSED)
                        └──no chunk active──▶ CANCELLED

Operators pause, resume and cancel; the controller starts (PENDING → RUNNING),
completes (RUNNING → SUCCEEDED, or FAILED when any chunk failed or was cancelled)
and finishes a cancellation (CANCELLING → CANCELLED).  A paused backfill never
completes on its own, even when its last chunks finish while it is paused: resume
it and the next pass completes it.  Every transition increments ``state_version``
by one; a request made against another version is a :class:`VersionConflictError`,
and a transition not in :data:`TRANSITIONS` an :class:`IllegalTransitionError`.
The same table is the fold's guard, so a transition the table lacks can never
reach the projection, whoever appended it.
"""

from __future__ import annotations

from typing import Literal

from arco.errors import IllegalTransitionError, VersionConflictError
from arco.events.backfills import BackfillState

PENDING = BackfillState.PENDING
RUNNING = BackfillState.RUNNING
PAUSED = BackfillState.PAUSED
SUCCEEDED = BackfillState.SUCCEEDED
FAILED = BackfillState.FAILED
CANCELLING = BackfillState.CANCELLING
CANCELLED = BackfillState.CANCELLED

Actor = Literal["operator", "controller"]

TRANSITIONS: dict[tuple[BackfillState, BackfillState], Actor] = {
    (PENDING, RUNNING): "controller",
    (PENDING, PAUSED): "operator",
    (PENDING, CANCELLING): "operator",
    (RUNNING, PAUSED): "operator",
    (RUNNING, CANCELLING): "operator",
    (RUNNING, SUCCEEDED): "controller",
    (RUNNING, FAILED): "controller",
    (PAUSED, RUNNING): "operator",
    (PAUSED, CANCELLING): "operator",
    (CANCELLING, CANCELLED): "controller",
}
"""Every legal (from, to) edge and the actor that takes it; nothing else is legal."""

TERMINAL_STATES = frozenset({SUCCEEDED, FAILED, CANCELLED})
PLANNING_STATES = frozenset({PENDING, RUNNING})
"""States in which the controller plans new chunks."""

Action = Literal["pause", "resume", "cancel"]
ACTION_TARGETS: dict[Action, BackfillState] = {
    "pause": PAUSED,
    "resume": RUNNING,
    "cancel": CANCELLING,
}
PAUSED_WITH_FAILURES = "PAUSED_WITH_FAILURES"


def is_legal(from_state: BackfillState, to_state: BackfillState) -> bool:
    return (from_state, to_state) in TRANSITIONS


def allowed_from(state: BackfillState, actor: Actor | None = None) -> list[str]:
    """The states reachable from ``state`` (by ``actor`` when given), for error messages."""
    return sorted(
        to.value
        for (source, to), who in TRANSITIONS.items()
        if source == state and (actor is None or who == actor)
    )


def check_request(
    backfill_id: str,
    state: BackfillState,
    state_version: int,
    action: Action,
    expected_state_version: int,
) -> BackfillState:
    """The state ``action`` moves to, if the caller saw the current version and it is legal."""
    if expected_state_version != state_version:
        raise VersionConflictError(
            f"backfill {backfill_id} is at state_version {state_version}, "
            f"not {expected_state_version}; read it again and retry",
            field="expected_state_version",
            value=expected_state_version,
            allowed=str(state_version),
            details={
                "backfill_id": backfill_id,
                "current_state_version": state_version,
                "current_state": state.value,
            },
        )
    target = ACTION_TARGETS[action]
    if TRANSITIONS.get((state, target)) != "operator":
        actions = sorted(a for a, to in ACTION_TARGETS.items() if (state, to) in _OPERATOR_EDGES)
        raise IllegalTransitionError(
            f"cannot {action} backfill {backfill_id}: it is {state.value}",
            field="state",
            value=state.value,
            allowed=actions,
            details={
                "backfill_id": backfill_id,
                "current_state": state.value,
                "current_state_version": state_version,
                "requested_state": target.value,
            },
        )
    return target


_OPERATOR_EDGES = frozenset(edge for edge, who in TRANSITIONS.items() if who == "operator")


def display_state(state: BackfillState, failed_chunks: int) -> str:
    """The state shown to users: a paused backfill with failed chunks says so."""
    if state == PAUSED and failed_chunks > 0:
        return PAUSED_WITH_FAILURES
    return state.value
