"""The attempt lease rule shared by the in-process worker and the HTTP worker contract."""

from __future__ import annotations

import pytest

from arco.events import Payload, StoredEvent, TaskFinished, TaskStarted
from arco.fold.rows import Doc, Scope
from arco.ledger import Appended, Duplicate
from arco.services.leases import Lease, attempt_finished, find_lease, read_claim, stop_reason
from support.factories import TENANT, WORKSPACE, envelope

SCOPE = Scope(TENANT, WORKSPACE)
ATTEMPT = "raw[p1]@r1:1"


class Keys:
    """A ledger's key lookup over a few stored payloads (offsets from 1)."""

    def __init__(self, *payloads: Payload) -> None:
        self.stored = {
            p.idempotency_key(): StoredEvent.of(envelope(p), offset)
            for offset, p in enumerate(payloads, start=1)
        }

    def find_by_key(self, tenant_id: str, workspace_id: str, key: str) -> StoredEvent | None:
        assert (tenant_id, workspace_id) == (TENANT, WORKSPACE)
        return self.stored.get(key)


def started(worker: str) -> TaskStarted:
    return TaskStarted(
        run_id="r1", task_key="raw[p1]", attempt=1, attempt_id=ATTEMPT, worker_id=worker
    )


FINISHED = TaskFinished(
    run_id="r1",
    task_key="raw[p1]",
    attempt=1,
    attempt_id=ATTEMPT,
    outcome="failed",
    asset_key="raw",
    partition_key="p1",
)


def test_an_appended_claim_wins_without_reading_the_ledger() -> None:
    claim = read_claim(Keys(), SCOPE, started("w1"), Appended("e1", 7))
    assert (claim.won, claim.holder_worker_id, claim.lease) == (True, "w1", None)


@pytest.mark.parametrize(
    ("on_record", "claimant", "won", "holder"),
    [
        ((started("w1"),), "w1", True, "w1"),  # our own retried claim, unfinished
        ((started("w1"), FINISHED), "w1", False, "w1"),  # ours, but the attempt ended
        ((started("w1"),), "w2", False, "w1"),  # another worker's claim won
        ((started("w1"), FINISHED), "w2", False, "w1"),
    ],
)
def test_a_duplicate_claim_is_ours_only_if_it_names_us_and_the_attempt_is_unfinished(
    on_record: tuple[Payload, ...], claimant: str, won: bool, holder: str
) -> None:
    keys = Keys(*on_record)
    claim = read_claim(keys, SCOPE, started(claimant), Duplicate("e9", 1))
    assert (claim.won, claim.holder_worker_id) == (won, holder)
    first = keys.stored[f"task_started:{ATTEMPT}"]
    assert claim.lease == Lease("w1", first.event_id, 1)


def test_lease_lookups() -> None:
    keys = Keys(started("w1"), FINISHED)
    assert find_lease(keys, SCOPE, ATTEMPT) == Lease(
        "w1", keys.stored[f"task_started:{ATTEMPT}"].event_id, 1
    )
    assert find_lease(Keys(), SCOPE, ATTEMPT) is None
    assert attempt_finished(keys, SCOPE, ATTEMPT) is True
    assert attempt_finished(Keys(started("w1")), SCOPE, ATTEMPT) is False


TASK: Doc = {"attempt_id": ATTEMPT, "attempt": 1, "state": "running"}


@pytest.mark.parametrize(
    ("run", "task", "reason"),
    [
        ({"state": "running"}, TASK, None),
        (None, TASK, None),
        ({"state": "running"}, None, None),  # not folded yet: keep running
        ({"state": "cancelling"}, TASK, "run cancelled while the task was running"),
        ({"state": "cancelling"}, None, "run cancelled while the task was running"),
        (
            None,
            {**TASK, "attempt": 2, "attempt_id": "raw[p1]@r1:2"},
            "attempt superseded by attempt 2 (raw[p1]@r1:2)",
        ),
        (None, {**TASK, "state": "failed"}, "the engine ended this attempt (task is failed)"),
        (None, {**TASK, "state": "dispatched"}, None),
    ],
)
def test_stop_reason(run: Doc | None, task: Doc | None, reason: str | None) -> None:
    assert stop_reason(run, task, ATTEMPT) == reason
