"""The attempt lease: whose claim holds an attempt, and when its holder must stop.

A worker claims an attempt by appending ``TaskStarted(attempt_id, worker_id)`` under the
idempotency key ``task_started:{attempt_id}``; the ledger keeps only the first, so the
TaskStarted on record names the holder.  The in-process worker (``arco.runtime.worker``)
and the HTTP worker contract (``arco.services.workers``) both read a claim and decide when
to stop through these functions, so the two agree on what a claim means.  Nothing here
needs a ServiceContext or a RuntimeEnv: only the ledger's key lookup and projection rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from arco.events import StoredEvent, TaskStarted
from arco.fold.execution_state import ACTIVE_TASK_STATES
from arco.fold.rows import Doc, Scope
from arco.ledger import AppendOutcome


class KeyLookup(Protocol):
    """The part of the ledger a lease check needs (``SqlLedger`` has it)."""

    def find_by_key(self, tenant_id: str, workspace_id: str, key: str) -> StoredEvent | None: ...


@dataclass(frozen=True)
class Lease:
    """The TaskStarted on record for an attempt: the claim that won."""

    worker_id: str
    event_id: str
    offset: int


@dataclass(frozen=True)
class Claim:
    """What appending a TaskStarted decided: who holds the attempt, and is it the claimant."""

    won: bool
    holder_worker_id: str
    lease: Lease | None = None  # the claim on record when the append was a duplicate


def find_lease(ledger: KeyLookup, scope: Scope, attempt_id: str) -> Lease | None:
    """The claim that holds ``attempt_id``, if any worker claimed it."""
    key = f"task_started:{attempt_id}"
    stored = ledger.find_by_key(scope.tenant_id, scope.workspace_id, key)
    if stored is None or not isinstance(stored.data, TaskStarted):
        return None
    return Lease(stored.data.worker_id, stored.event_id, stored.offset)


def attempt_finished(ledger: KeyLookup, scope: Scope, attempt_id: str) -> bool:
    """Whether some TaskFinished (a worker's or the engine's) ended ``attempt_id``."""
    key = f"task_finished:{attempt_id}"
    return ledger.find_by_key(scope.tenant_id, scope.workspace_id, key) is not None


def read_claim(
    ledger: KeyLookup, scope: Scope, started: TaskStarted, outcome: AppendOutcome
) -> Claim:
    """Interpret the append of ``started``: an appended claim won the attempt.

    A duplicate is ours too when the TaskStarted on record names this same worker and no
    TaskFinished exists: an append retried after an ambiguous commit, or a retried request.
    """
    if not outcome.duplicate:
        return Claim(won=True, holder_worker_id=started.worker_id)
    lease = find_lease(ledger, scope, started.attempt_id)
    holder = started.worker_id if lease is None else lease.worker_id
    won = holder == started.worker_id and not attempt_finished(ledger, scope, started.attempt_id)
    return Claim(won=won, holder_worker_id=holder, lease=lease)


def stop_reason(run: Doc | None, task: Doc | None, attempt_id: str) -> str | None:
    """Why a running attempt must be killed: its run is cancelling, or it is no longer the
    task's live attempt (the engine timed it out or dispatched a newer one)."""
    if run is not None and run.get("state") == "cancelling":
        return "run cancelled while the task was running"
    if task is None:
        return None
    if task.get("attempt_id") != attempt_id:
        return f"attempt superseded by attempt {task.get('attempt')} ({task.get('attempt_id')})"
    if task.get("state") not in ACTIVE_TASK_STATES:
        return f"the engine ended this attempt (task is {task.get('state')})"
    return None
