"""Property tests: shuffled, duplicated and late task facts never regress a task or a run."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from arco.events import OrchestrationEvent, Payload, PlanCreated, RunCancelRequested
from arco.events.execution import (
    DispatchRequested,
    TaskError,
    TaskFinished,
    TaskHeartbeat,
    TaskOutcome,
    TaskStarted,
)
from support.execution import Doc, FoldBench, spec
from support.factories import T0, TENANT, WORKSPACE, run_requested

REQUEST = run_requested("prop")
RUN_ID = REQUEST.run_id
PLAN = (spec("raw", "a", retries=1), spec("clean", "a", deps=("raw[a]",)))
TASK_KEYS = ("raw[a]", "clean[a]")
ATTEMPTS = (1, 2, 3)
OUTCOMES: tuple[TaskOutcome, ...] = ("succeeded", "failed", "cancelled")
PHASE = {
    "pending": 0,
    "ready": 0,
    "dispatched": 1,
    "running": 2,
    "retry_wait": 3,
    "succeeded": 3,
    "failed": 3,
    "skipped": 3,
    "cancelled": 3,
}
TERMINAL_TASK = {"succeeded", "failed", "skipped", "cancelled"}
RUN_RANK = {"queued": 0, "running": 1, "cancelling": 2, "succeeded": 3, "failed": 3, "cancelled": 3}


def _facts(task_key: str, attempt: int) -> list[Payload]:
    attempt_id = f"{task_key}#{attempt}"
    asset = task_key.split("[")[0]
    facts: list[Payload] = [
        DispatchRequested(run_id=RUN_ID, task_key=task_key, attempt=attempt, attempt_id=attempt_id),
        TaskStarted(
            run_id=RUN_ID, task_key=task_key, attempt=attempt, attempt_id=attempt_id, worker_id="w"
        ),
        TaskHeartbeat(run_id=RUN_ID, task_key=task_key, attempt_id=attempt_id, sequence=1),
        TaskHeartbeat(run_id=RUN_ID, task_key=task_key, attempt_id=attempt_id, sequence=2),
    ]
    for outcome in OUTCOMES:
        facts.append(
            TaskFinished(
                run_id=RUN_ID,
                task_key=task_key,
                attempt=attempt,
                attempt_id=attempt_id,
                outcome=outcome,
                asset_key=asset,
                partition_key="a",
                error=None if outcome == "succeeded" else TaskError(kind="x", message="x"),
            )
        )
    return facts


POOL: list[Payload] = [
    *(fact for key in TASK_KEYS for attempt in ATTEMPTS for fact in _facts(key, attempt)),
    RunCancelRequested(run_id=RUN_ID),
]
POOL_EVENTS = [OrchestrationEvent.new(TENANT, WORKSPACE, payload, now=T0) for payload in POOL]
sequences = st.lists(st.sampled_from(range(len(POOL_EVENTS))), max_size=40)


def _bench() -> FoldBench:
    bench = FoldBench()
    bench.apply(REQUEST, PlanCreated(run_id=RUN_ID, tasks=PLAN))
    return bench


def _snapshot(bench: FoldBench) -> tuple[str, dict[str, Doc]]:
    return str(bench.run(RUN_ID)["state"]), bench.tasks(RUN_ID)


def _assert_no_regression(
    before: tuple[str, dict[str, Doc]], after: tuple[str, dict[str, Doc]]
) -> None:
    run_before, tasks_before = before
    run_after, tasks_after = after
    assert RUN_RANK[run_after] >= RUN_RANK[run_before]
    if RUN_RANK[run_before] == 3:
        assert run_after == run_before
    for key, old in tasks_before.items():
        new = tasks_after[key]
        old_progress = (old["attempt"], PHASE[str(old["state"])])
        new_progress = (new["attempt"], PHASE[str(new["state"])])
        assert new_progress >= old_progress, (key, old["state"], new["state"])
        if old["state"] in TERMINAL_TASK:
            assert (new["state"], new["attempt_id"]) == (old["state"], old["attempt_id"])


def _assert_consistent(bench: FoldBench) -> None:
    run = bench.run(RUN_ID)
    tasks = bench.tasks(RUN_ID)
    counts = dict.fromkeys(PHASE, 0)
    for task in tasks.values():
        counts[str(task["state"])] += 1
    assert run["task_counts"] == counts
    if run["state"] in ("succeeded", "failed", "cancelled"):
        assert all(task["state"] in TERMINAL_TASK for task in tasks.values())
    for asset in ("raw", "clean"):
        status = bench.rows.table("partition_status").get(f"{asset}|a")
        if status is None:
            continue
        task = tasks[f"{asset}[a]"]
        expected = [task["attempt_id"]] if task["state"] in ("dispatched", "running") else []
        assert status["active_attempt_ids"] == expected
        assert status["in_progress"] is bool(expected)


@settings(max_examples=300, deadline=None)
@given(sequences)
def test_no_interleaving_of_facts_regresses_a_task_or_a_terminal_run(picks: list[int]) -> None:
    bench = _bench()
    for pick in picks:
        before = _snapshot(bench)
        bench.apply_event(POOL_EVENTS[pick])
        _assert_no_regression(before, _snapshot(bench))
        _assert_consistent(bench)


@settings(max_examples=200, deadline=None)
@given(sequences)
def test_an_event_delivered_twice_in_a_row_changes_nothing_the_second_time(
    picks: list[int],
) -> None:
    bench = _bench()
    for pick in picks:
        bench.apply_event(POOL_EVENTS[pick])
        rows_after_first = dict(bench.rows.rows)
        bench.apply_event(POOL_EVENTS[pick])
        assert bench.rows.rows == rows_after_first


@settings(max_examples=100, deadline=None)
@given(sequences)
def test_replaying_the_same_ledger_gives_the_same_projections(picks: list[int]) -> None:
    first, second = _bench(), _bench()
    for pick in picks:
        first.apply_event(POOL_EVENTS[pick])
        second.apply_event(POOL_EVENTS[pick])
    assert first.rows.digest() == second.rows.digest()
