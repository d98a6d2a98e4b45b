"""The execution fold: plans, the task state machine, run completion and cancellation."""

from __future__ import annotations

from arco.events import BackfillSource, PlanCreated, RunCancelRequested, RunTriggered
from arco.events.execution import TaskError, TimerFired, TimerRequested
from arco.fold.runs import chunk_pk
from arco.fold.tables import BACKFILL_CHUNKS
from support.execution import FoldBench, chain_plan, finished, spec
from support.factories import run_requested


def test_plan_makes_tasks_without_upstreams_ready_and_the_rest_pending() -> None:
    bench = FoldBench()
    run_id = bench.new_run("k", chain_plan())
    assert bench.states(run_id) == {
        "raw[a]": "ready",
        "raw[b]": "ready",
        "clean[a]": "pending",
        "clean[b]": "pending",
        "report": "pending",
    }
    run = bench.run(run_id)
    assert run["state"] == "running"
    assert run["tasks_total"] == 5
    assert run["task_counts"]["ready"] == 2
    assert run["task_counts"]["pending"] == 3
    assert bench.task(run_id, "report")["waiting_on"] == ["clean[a]", "clean[b]"]
    assert bench.task(run_id, "raw[a]")["dependents"] == ["clean[a]"]
    assert bench.rows.table("run_plans")[run_id]["task_keys"] == list(bench.states(run_id))


def test_run_triggered_records_when_the_bridge_picked_the_run_up() -> None:
    bench = FoldBench()
    request = run_requested("k")
    bench.apply(request, RunTriggered(run_id=request.run_id, run_key="k"))
    assert bench.run(request.run_id)["triggered_at"] is not None
    assert bench.run(request.run_id)["state"] == "queued"


def test_a_success_makes_dependents_ready_only_when_all_their_upstreams_succeeded() -> None:
    bench = FoldBench()
    run_id = bench.new_run("k", chain_plan())
    bench.run_task(run_id, "raw[a]")
    bench.run_task(run_id, "clean[a]")
    assert bench.states(run_id)["clean[a]"] == "succeeded"
    assert bench.states(run_id)["report"] == "pending"
    assert bench.task(run_id, "report")["waiting_on"] == ["clean[b]"]
    bench.run_task(run_id, "raw[b]")
    bench.run_task(run_id, "clean[b]")
    assert bench.states(run_id)["report"] == "ready"


def test_the_run_succeeds_when_every_task_succeeded() -> None:
    bench = FoldBench()
    run_id = bench.new_run("k", chain_plan())
    for key in ("raw[a]", "raw[b]", "clean[a]", "clean[b]", "report"):
        assert bench.run(run_id)["state"] == "running"
        bench.run_task(run_id, key)
    run = bench.run(run_id)
    assert run["state"] == "succeeded"
    assert run["finished_at"] is not None
    assert run["task_counts"]["succeeded"] == 5


def test_dispatch_and_start_move_the_task_and_record_the_attempt() -> None:
    bench = FoldBench()
    run_id = bench.new_run("k", chain_plan())
    attempt_id = bench.dispatch(run_id, "raw[a]")
    task = bench.task(run_id, "raw[a]")
    assert (task["state"], task["attempt"], task["attempt_id"]) == ("dispatched", 1, attempt_id)
    bench.start(run_id, "raw[a]", worker="w7")
    task = bench.task(run_id, "raw[a]")
    assert task["state"] == "running"
    assert task["worker_id"] == "w7"
    assert task["attempts"] == [
        {
            "attempt": 1,
            "attempt_id": attempt_id,
            "dispatched_at": task["dispatched_at"],
            "worker_id": "w7",
            "started_at": task["started_at"],
            "finished_at": None,
            "outcome": None,
            "error": None,
        }
    ]
    assert bench.run(run_id)["task_counts"]["running"] == 1


def test_a_failure_without_retries_skips_everything_downstream_naming_the_failed_task() -> None:
    bench = FoldBench()
    run_id = bench.new_run("k", chain_plan())
    bench.run_task(run_id, "raw[a]", "failed")
    tasks = bench.tasks(run_id)
    assert tasks["raw[a]"]["state"] == "failed"
    assert tasks["raw[a]"]["error"] == {"kind": "boom", "message": "it broke", "traceback": None}
    for key in ("clean[a]", "report"):
        assert tasks[key]["state"] == "skipped"
        assert tasks[key]["skip_reason"] == "upstream_failed"
        assert tasks[key]["skipped_because"] == "raw[a]"
        assert "raw[a]" in str(tasks[key]["error"])
    assert tasks["raw[b]"]["state"] == "ready"
    assert bench.run(run_id)["state"] == "running"
    bench.run_task(run_id, "raw[b]")
    bench.run_task(run_id, "clean[b]")
    run = bench.run(run_id)
    assert run["state"] == "failed"
    assert run["task_counts"] == {
        "pending": 0,
        "ready": 0,
        "dispatched": 0,
        "running": 0,
        "retry_wait": 0,
        "succeeded": 2,
        "failed": 1,
        "skipped": 2,
        "cancelled": 0,
    }
    assert run["error"] == {
        "kind": "tasks_failed",
        "message": "1 task(s) failed, 2 skipped, 0 cancelled",
    }


def test_a_failure_with_retries_left_waits_for_its_retry_timer() -> None:
    bench = FoldBench()
    run_id = bench.new_run("k", chain_plan(retries=1))
    bench.run_task(run_id, "raw[a]", "failed")
    task = bench.task(run_id, "raw[a]")
    assert task["state"] == "retry_wait"
    assert task["failures"] == 1
    assert bench.states(run_id)["clean[a]"] == "pending"
    bench.apply(
        TimerRequested(
            timer_id="retry:x",
            fire_at_epoch_ms=1_704_067_260_000,
            purpose="retry",
            run_id=run_id,
            task_key="raw[a]",
            attempt=1,
        )
    )
    task = bench.task(run_id, "raw[a]")
    assert task["retry_timer_id"] == "retry:x"
    assert task["retry_at"] == "2024-01-01T00:01:00.000000Z"
    assert bench.rows.table("timers")["retry:x"]["state"] == "requested"
    bench.apply(TimerFired(timer_id="retry:x", run_id=run_id))
    assert bench.rows.table("timers")["retry:x"]["state"] == "fired"
    second = bench.dispatch(run_id, "raw[a]")
    task = bench.task(run_id, "raw[a]")
    assert (task["state"], task["attempt"], task["attempt_id"]) == ("dispatched", 2, second)
    assert task["retry_timer_id"] is None
    bench.start(run_id, "raw[a]")
    bench.finish(run_id, "raw[a]", "failed")
    task = bench.task(run_id, "raw[a]")
    assert task["state"] == "failed"
    assert [a["outcome"] for a in task["attempts"]] == ["failed", "failed"]


def test_plan_error_fails_the_run_and_an_empty_plan_succeeds_it() -> None:
    bench = FoldBench()
    bad = run_requested("bad")
    empty = run_requested("empty")
    bench.apply(
        bad,
        PlanCreated(
            run_id=bad.run_id,
            tasks=(),
            error=TaskError(kind="unknown_asset", message="no asset 'x'"),
        ),
        empty,
        PlanCreated(run_id=empty.run_id, tasks=()),
    )
    assert bench.run(bad.run_id)["state"] == "failed"
    assert bench.run(bad.run_id)["error"] == {
        "kind": "unknown_asset",
        "message": "no asset 'x'",
        "traceback": None,
    }
    assert bench.run(empty.run_id)["state"] == "succeeded"


def test_a_second_plan_for_the_same_run_changes_nothing() -> None:
    bench = FoldBench()
    run_id = bench.new_run("k", chain_plan())
    before = bench.rows.digest()
    bench.apply(PlanCreated(run_id=run_id, tasks=(spec("other"),)))
    assert bench.rows.digest() == before


def test_cancel_of_a_queued_run_cancels_it_at_once_and_no_plan_follows() -> None:
    bench = FoldBench()
    request = run_requested("k")
    bench.apply(request, RunCancelRequested(run_id=request.run_id, requested_by="ann"))
    assert bench.run(request.run_id)["state"] == "cancelled"
    assert bench.run(request.run_id)["cancel_requested_by"] == "ann"
    bench.apply(PlanCreated(run_id=request.run_id, tasks=chain_plan()))
    assert bench.run(request.run_id)["state"] == "cancelled"
    assert bench.tasks(request.run_id) == {}


def test_cancel_cancels_idle_tasks_and_waits_for_running_ones() -> None:
    bench = FoldBench()
    run_id = bench.new_run("k", chain_plan())
    bench.dispatch(run_id, "raw[a]")
    bench.start(run_id, "raw[a]")
    bench.dispatch(run_id, "raw[b]")
    bench.apply(RunCancelRequested(run_id=run_id, reason="wrong data"))
    assert bench.run(run_id)["state"] == "cancelling"
    assert bench.states(run_id) == {
        "raw[a]": "running",
        "raw[b]": "cancelled",
        "clean[a]": "cancelled",
        "clean[b]": "cancelled",
        "report": "cancelled",
    }
    assert bench.status("raw", "b")["in_progress"] is False
    bench.finish(run_id, "raw[a]", "cancelled")
    assert bench.run(run_id)["state"] == "cancelled"
    assert bench.task(run_id, "raw[a]")["state"] == "cancelled"


def test_a_cancelling_run_neither_dispatches_nor_retries() -> None:
    bench = FoldBench()
    run_id = bench.new_run("k", chain_plan(retries=3))
    bench.dispatch(run_id, "raw[a]")
    bench.start(run_id, "raw[a]")
    bench.apply(RunCancelRequested(run_id=run_id))
    bench.finish(run_id, "raw[a]", "failed")
    assert bench.task(run_id, "raw[a]")["state"] == "failed"
    assert bench.run(run_id)["state"] == "cancelled"
    before = bench.rows.digest()
    bench.apply(RunCancelRequested(run_id=run_id, requested_by="again"))
    assert bench.rows.digest() == before


def test_dispatch_needs_a_running_run_a_dispatchable_task_and_a_higher_attempt() -> None:
    bench = FoldBench()
    run_id = bench.new_run("k", chain_plan())
    bench.dispatch(run_id, "clean[a]")  # pending: not dispatchable
    assert bench.task(run_id, "clean[a]")["state"] == "pending"
    # ...but its attempt number is spent, so the next dispatch uses a higher one.
    assert bench.task(run_id, "clean[a]")["last_dispatch_attempt"] == 1
    first = bench.dispatch(run_id, "raw[a]")
    bench.start(run_id, "raw[a]")
    bench.dispatch(run_id, "raw[a]")  # running: a racing re-dispatch is refused
    task = bench.task(run_id, "raw[a]")
    assert (task["state"], task["attempt_id"]) == ("running", first)


def test_chunk_row_follows_its_runs_terminal_state() -> None:
    bench = FoldBench()
    source = BackfillSource(backfill_id="B1", chunk_index=3)
    request = run_requested("backfill:B1:chunk:3").model_copy(update={"source": source})
    pk = chunk_pk("B1", 3)
    chunk = {"backfill_id": "B1", "chunk_index": 3, "state": "running", "partition_keys": ["a"]}
    bench.seed(BACKFILL_CHUNKS, pk, chunk)
    bench.apply(request, PlanCreated(run_id=request.run_id, tasks=(spec("raw", "a"),)))
    assert bench.rows.table("backfill_chunks")[pk]["state"] == "running"
    bench.run_task(request.run_id, "raw[a]", "failed")
    assert bench.rows.table("backfill_chunks")[pk] == {
        **chunk,
        "run_id": request.run_id,
        "state": "failed",
        "run_state": "failed",
    }


def test_task_finished_for_an_unknown_task_is_a_warning_not_a_crash() -> None:
    bench = FoldBench()
    run_id = bench.new_run("k", chain_plan())
    task = {**bench.task(run_id, "raw[a]"), "task_key": "nope", "attempt": 1, "attempt_id": "x"}
    before = bench.rows.digest()
    bench.apply(finished(run_id, task))
    assert bench.rows.digest() == before
