"""The worker-contract services on every backend, called directly (the API tests go via HTTP).

The in-process worker and these services read claims through one rule
(``arco.services.leases``); these tests pin that they agree.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from arco.clock import ManualClock
from arco.compactor import Compactor
from arco.errors import ConflictError, ValidationError
from arco.events import (
    DispatchRequested,
    PlanCreated,
    RunCancelRequested,
    TaskFinished,
    TaskHeartbeat,
    TaskStarted,
)
from arco.ledger import SqlLedger
from arco.services import ServiceContext
from arco.services import workers as service
from support.backfills import service_context
from support.execution import spec
from support.factories import envelope, run_requested

ATTEMPT = "raw[p1]@r1:1"


@pytest.fixture
def ctx(ledger: SqlLedger) -> ServiceContext:
    return service_context(ledger, ManualClock(datetime(2024, 6, 1, tzinfo=UTC)))


@pytest.fixture
def run_id(ledger: SqlLedger, compactor: Compactor) -> str:
    """A running run of ``raw[p1]`` whose attempt 1 is dispatched."""
    request = run_requested("r1")
    task = spec("raw", "p1")
    dispatch = DispatchRequested(
        run_id=request.run_id, task_key=task.task_key, attempt=1, attempt_id=ATTEMPT
    )
    plan = PlanCreated(run_id=request.run_id, tasks=(task,))
    ledger.append([envelope(p) for p in (request, plan, dispatch)])
    compactor.catch_up()
    return request.run_id


def started(run_id: str, worker: str) -> TaskStarted:
    return TaskStarted(
        run_id=run_id, task_key="raw[p1]", attempt=1, attempt_id=ATTEMPT, worker_id=worker
    )


def test_a_claim_the_in_process_worker_appended_is_its_own_through_the_service(
    ctx: ServiceContext, ledger: SqlLedger, run_id: str
) -> None:
    # What Worker.claim appends; its retry over HTTP must agree that it holds the attempt.
    ledger.append([envelope(started(run_id, "w1"))])
    mine = service.claim_attempt(ctx, started(run_id, "w1"))
    assert (mine.claimed, mine.holder_worker_id, mine.accepted.duplicate) == (True, "w1", True)
    assert mine.accepted.resource_id == ATTEMPT
    theirs = service.claim_attempt(ctx, started(run_id, "w2"))
    assert (theirs.claimed, theirs.holder_worker_id) == (False, "w1")
    assert theirs.accepted.event_id == mine.accepted.event_id


def test_a_finished_attempt_is_no_longer_held_by_a_repeated_claim(
    ctx: ServiceContext, ledger: SqlLedger, run_id: str
) -> None:
    assert service.claim_attempt(ctx, started(run_id, "w1")).claimed is True
    ledger.append(
        [
            envelope(
                TaskFinished(
                    run_id=run_id,
                    task_key="raw[p1]",
                    attempt=1,
                    attempt_id=ATTEMPT,
                    outcome="succeeded",
                    asset_key="raw",
                    partition_key="p1",
                )
            )
        ]
    )
    # The projection still shows the attempt live (nothing folded): the ledger decides.
    assert service.claim_attempt(ctx, started(run_id, "w1")).claimed is False


def test_heartbeats_check_the_lease_and_say_stop_once_the_run_is_cancelling(
    ctx: ServiceContext, ledger: SqlLedger, compactor: Compactor, run_id: str
) -> None:
    service.claim_attempt(ctx, started(run_id, "w1"))

    def beat(sequence: int) -> TaskHeartbeat:
        return TaskHeartbeat(
            run_id=run_id, task_key="raw[p1]", attempt_id=ATTEMPT, sequence=sequence
        )

    with pytest.raises(ConflictError) as refused:
        service.record_heartbeat(ctx, beat(1), worker_id="w2")
    assert refused.value.details == {"reason": "not_lease_holder", "holder_worker_id": "w1"}
    alive = service.record_heartbeat(ctx, beat(1), attempt=1, worker_id="w1")
    assert (alive.stop, alive.accepted.duplicate) == (False, False)
    ledger.append([envelope(RunCancelRequested(run_id=run_id))])
    compactor.catch_up()
    told = service.record_heartbeat(ctx, beat(2))
    assert (told.stop, told.stop_reason) == (True, "run cancelled while the task was running")


def test_listing_takes_only_the_worker_states(ctx: ServiceContext, run_id: str) -> None:
    [task] = service.list_worker_tasks(ctx).items
    assert (task["attempt_id"], task["state"]) == (ATTEMPT, "dispatched")
    assert service.list_worker_tasks(ctx, state="running").items == []
    with pytest.raises(ValidationError) as bad:
        service.list_worker_tasks(ctx, state="succeeded")
    assert (bad.value.field, bad.value.allowed) == ("state", ["dispatched", "running"])
