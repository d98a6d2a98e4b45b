"""The backfill state machine (DESIGN §5): legal edges, versions, display state."""

from __future__ import annotations

import pytest

from arco.controllers.backfill_states import (
    ACTION_TARGETS,
    PAUSED_WITH_FAILURES,
    TERMINAL_STATES,
    TRANSITIONS,
    allowed_from,
    check_request,
    display_state,
    is_legal,
)
from arco.errors import IllegalTransitionError, VersionConflictError
from arco.events import BackfillState

S = BackfillState


def test_the_table_is_the_designed_machine() -> None:
    assert set(TRANSITIONS) == {
        (S.PENDING, S.RUNNING),
        (S.PENDING, S.PAUSED),
        (S.PENDING, S.CANCELLING),
        (S.RUNNING, S.PAUSED),
        (S.RUNNING, S.CANCELLING),
        (S.RUNNING, S.SUCCEEDED),
        (S.RUNNING, S.FAILED),
        (S.PAUSED, S.RUNNING),
        (S.PAUSED, S.CANCELLING),
        (S.CANCELLING, S.CANCELLED),
    }
    # Terminal states have no way out, and nothing returns to PENDING.
    assert not [edge for edge in TRANSITIONS if edge[0] in TERMINAL_STATES]
    assert not [edge for edge in TRANSITIONS if edge[1] == S.PENDING]


@pytest.mark.parametrize("state", list(S))
def test_is_legal_agrees_with_the_table(state: BackfillState) -> None:
    for to in S:
        assert is_legal(state, to) == ((state, to) in TRANSITIONS)


def test_operators_and_the_controller_own_different_edges() -> None:
    assert allowed_from(S.RUNNING, "operator") == ["CANCELLING", "PAUSED"]
    assert allowed_from(S.RUNNING, "controller") == ["FAILED", "SUCCEEDED"]
    assert allowed_from(S.CANCELLING, "operator") == []


@pytest.mark.parametrize(
    ("state", "action", "target"),
    [
        (S.RUNNING, "pause", S.PAUSED),
        (S.PENDING, "pause", S.PAUSED),
        (S.PAUSED, "resume", S.RUNNING),
        (S.RUNNING, "cancel", S.CANCELLING),
        (S.PAUSED, "cancel", S.CANCELLING),
        (S.PENDING, "cancel", S.CANCELLING),
    ],
)
def test_legal_requests_name_their_target(state: BackfillState, action: str, target: S) -> None:
    assert check_request("B", state, 3, action, 3) == target  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("state", "action"),
    [
        (S.RUNNING, "resume"),
        (S.PENDING, "resume"),
        (S.PAUSED, "pause"),
        (S.SUCCEEDED, "cancel"),
        (S.CANCELLED, "resume"),
        (S.CANCELLING, "pause"),
        (S.FAILED, "pause"),
    ],
)
def test_illegal_requests_carry_the_current_state(state: BackfillState, action: str) -> None:
    with pytest.raises(IllegalTransitionError) as raised:
        check_request("B", state, 4, action, 4)  # type: ignore[arg-type]
    error = raised.value
    assert error.status == 409
    assert error.details["current_state"] == state.value
    assert error.details["requested_state"] == ACTION_TARGETS[action].value  # type: ignore[index]
    assert error.to_dict()["code"] == "illegal_transition"


def test_l2_inv_6_a_stale_expected_version_is_a_conflict_with_the_current_version() -> None:
    with pytest.raises(VersionConflictError) as raised:
        check_request("B", S.RUNNING, 5, "pause", 4)
    error = raised.value
    assert error.status == 409
    assert error.field == "expected_state_version"
    assert error.details == {
        "backfill_id": "B",
        "current_state_version": 5,
        "current_state": "RUNNING",
    }


def test_a_stale_version_wins_over_an_illegal_transition() -> None:
    # The caller's view is out of date: telling it so is more useful than "illegal".
    with pytest.raises(VersionConflictError):
        check_request("B", S.SUCCEEDED, 7, "pause", 6)


def test_paused_with_failed_chunks_displays_paused_with_failures() -> None:
    assert display_state(S.PAUSED, 1) == PAUSED_WITH_FAILURES
    assert display_state(S.PAUSED, 0) == "PAUSED"
    assert display_state(S.RUNNING, 3) == "RUNNING"
