"""Worker facts out of order, from old attempts, twice; and partition status (ADR-026)."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from arco.events.execution import TaskHeartbeat, TaskStarted
from support.execution import FoldBench, chain_plan, finished, spec
from support.factories import T0


def test_a_re_dispatch_abandons_the_attempt_that_never_started() -> None:
    bench = FoldBench()
    run_id = bench.new_run("k", chain_plan())
    first = bench.dispatch(run_id, "raw[a]")
    second = bench.dispatch(run_id, "raw[a]")
    task = bench.task(run_id, "raw[a]")
    assert (task["state"], task["attempt"], task["attempt_id"]) == ("dispatched", 2, second)
    assert task["abandoned"] == 1
    assert task["failures"] == 0
    assert [(a["attempt_id"], a["outcome"]) for a in task["attempts"]] == [
        (first, "abandoned"),
        (second, None),
    ]
    assert bench.status("raw", "a")["active_attempt_ids"] == [second]


def test_late_facts_from_an_old_attempt_cannot_change_the_task() -> None:
    bench = FoldBench()
    run_id = bench.new_run("k", chain_plan())
    first = bench.dispatch(run_id, "raw[a]")
    old = bench.task(run_id, "raw[a]")
    second = bench.dispatch(run_id, "raw[a]")
    bench.start(run_id, "raw[a]", worker="w2")
    status_before = bench.status("raw", "a")
    bench.apply(
        TaskStarted(run_id=run_id, task_key="raw[a]", attempt=1, attempt_id=first, worker_id="w1"),
        TaskHeartbeat(run_id=run_id, task_key="raw[a]", attempt_id=first, sequence=9),
        finished(run_id, old, "succeeded"),
    )
    task = bench.task(run_id, "raw[a]")
    assert (task["state"], task["attempt_id"], task["worker_id"]) == ("running", second, "w2")
    assert task["heartbeat_sequence"] != 9
    assert bench.states(run_id)["clean[a]"] == "pending"
    assert bench.status("raw", "a") == status_before
    history = task["attempts"][0]
    assert history["worker_id"] == "w1"
    assert history["outcome"] == "abandoned"
    assert history["late_outcome"] == "succeeded"


def test_late_and_repeated_facts_of_the_current_attempt_never_regress_it() -> None:
    bench = FoldBench()
    run_id = bench.new_run("k", chain_plan())
    bench.dispatch(run_id, "raw[a]")
    started = bench.task(run_id, "raw[a]")
    bench.start(run_id, "raw[a]")
    bench.heartbeat(run_id, "raw[a]", 5)
    bench.heartbeat(run_id, "raw[a]", 3)  # an older heartbeat arriving late
    assert bench.task(run_id, "raw[a]")["heartbeat_sequence"] == 5
    bench.finish(run_id, "raw[a]")
    done = bench.rows.digest()
    status = bench.status("raw", "a")
    late = [
        TaskStarted(
            run_id=run_id,
            task_key="raw[a]",
            attempt=1,
            attempt_id=str(started["attempt_id"]),
            worker_id="w1",
        ),
        TaskHeartbeat(
            run_id=run_id, task_key="raw[a]", attempt_id=str(started["attempt_id"]), sequence=6
        ),
        finished(run_id, started, "succeeded"),
    ]
    bench.apply(*late)
    assert bench.rows.digest() == done
    bench.apply(finished(run_id, started, "failed"))  # a contradicting report: history only
    task = bench.task(run_id, "raw[a]")
    assert task["state"] == "succeeded"
    assert task["attempts"][0]["late_outcome"] == "failed"
    assert bench.status("raw", "a") == status
    assert bench.run(run_id)["task_counts"]["succeeded"] == 1


def test_a_heartbeat_that_overtakes_task_started_marks_the_attempt_running() -> None:
    bench = FoldBench()
    run_id = bench.new_run("k", chain_plan())
    bench.dispatch(run_id, "raw[a]")
    bench.heartbeat(run_id, "raw[a]", 0)
    assert bench.task(run_id, "raw[a]")["state"] == "running"
    bench.start(run_id, "raw[a]", worker="w3")
    task = bench.task(run_id, "raw[a]")
    assert (task["state"], task["worker_id"]) == ("running", "w3")


def test_a_finish_that_overtakes_task_started_still_counts() -> None:
    bench = FoldBench()
    run_id = bench.new_run("k", (spec("raw", "a"),))
    bench.dispatch(run_id, "raw[a]")
    bench.finish(run_id, "raw[a]")
    bench.start(run_id, "raw[a]", worker="w4")
    assert bench.task(run_id, "raw[a]")["state"] == "succeeded"
    assert bench.task(run_id, "raw[a]")["attempts"][0]["worker_id"] == "w4"
    assert bench.run(run_id)["state"] == "succeeded"


def test_partition_status_is_in_progress_while_an_attempt_is_dispatched_or_running() -> None:
    bench = FoldBench()
    run_id = bench.new_run("k", chain_plan())
    attempt_id = bench.dispatch(run_id, "raw[a]")
    assert bench.status("raw", "a")["in_progress"] is True
    assert bench.status("raw", "a")["active_attempt_ids"] == [attempt_id]
    bench.start(run_id, "raw[a]")
    assert bench.status("raw", "a")["in_progress"] is True
    bench.finish(run_id, "raw[a]")
    assert bench.status("raw", "a")["in_progress"] is False


def test_a_failure_updates_the_last_attempt_and_keeps_the_earlier_materialization() -> None:
    bench = FoldBench()
    good = bench.new_run("good", (spec("raw", "a", code_version="v1"),))
    bench.run_task(good, "raw[a]")
    materialized = bench.status("raw", "a")
    assert materialized["last_materialization_run_id"] == good
    assert materialized["last_materialization_code_version"] == "v1"
    assert materialized["last_attempt_outcome"] == "succeeded"

    bad = bench.new_run("bad", (spec("raw", "a", code_version="v2"),))
    bench.run_task(bad, "raw[a]", "failed")
    status = bench.status("raw", "a")
    assert status["last_attempt_outcome"] == "failed"
    assert status["last_attempt_run_id"] == bad
    assert status["last_attempt_error"] == {
        "kind": "boom",
        "message": "it broke",
        "traceback": None,
    }
    for field in (
        "last_materialization_run_id",
        "last_materialization_at",
        "last_materialization_code_version",
        "last_materialization_attempt_id",
    ):
        assert status[field] == materialized[field], field


def test_unpartitioned_assets_keep_their_status_under_all() -> None:
    bench = FoldBench()
    run_id = bench.new_run("k", (spec("report"),))
    bench.run_task(run_id, "report")
    status = bench.rows.table("partition_status")["report|__all__"]
    assert status["partition_key"] == "__all__"
    assert status["last_materialization_run_id"] == run_id


def test_l2_inv_8_concurrent_materializations_resolve_to_the_latest_success() -> None:
    bench = FoldBench()
    early = bench.new_run("early", (spec("raw", "a", code_version="v1"),))
    late = bench.new_run("late", (spec("raw", "a", code_version="v2"),))
    bench.dispatch(early, "raw[a]")
    bench.dispatch(late, "raw[a]")
    bench.start(early, "raw[a]")
    bench.start(late, "raw[a]")
    assert len(bench.status("raw", "a")["active_attempt_ids"]) == 2
    # The later success reaches the ledger first...
    bench.apply(finished(late, bench.task(late, "raw[a]")), at=T0 + timedelta(hours=2))
    assert bench.status("raw", "a")["in_progress"] is True
    # ...and an earlier one arrives after it: it is recorded as an attempt, not as the latest.
    bench.apply(finished(early, bench.task(early, "raw[a]")), at=T0 + timedelta(hours=1))
    status = bench.status("raw", "a")
    assert status["last_materialization_run_id"] == late
    assert status["last_materialization_code_version"] == "v2"
    assert status["last_materialization_at"] == "2024-01-01T02:00:00.000000Z"
    assert status["last_attempt_run_id"] == early
    assert status["in_progress"] is False


def test_l2_inv_8_equal_timestamps_resolve_to_the_success_later_in_the_ledger() -> None:
    bench = FoldBench()
    one = bench.new_run("one", (spec("raw", "a", code_version="v1"),))
    two = bench.new_run("two", (spec("raw", "a", code_version="v2"),))
    bench.dispatch(one, "raw[a]")
    bench.dispatch(two, "raw[a]")
    same = T0 + timedelta(hours=1)
    bench.apply(finished(two, bench.task(two, "raw[a]")), at=same)
    bench.apply(finished(one, bench.task(one, "raw[a]")), at=same)
    status = bench.status("raw", "a")
    assert status["last_materialization_run_id"] == one
    assert status["last_materialization_event_id"] == bench.events[-1].event_id


@settings(max_examples=100, deadline=None)
@given(st.permutations(range(4)), st.lists(st.integers(0, 3), min_size=4, max_size=4))
def test_l2_inv_8_any_delivery_order_gives_the_same_latest_success(
    order: list[int], hours: list[int]
) -> None:
    """Whatever order the successes arrive in, the one with the greatest (time, offset) wins."""
    bench = FoldBench()
    runs = [bench.new_run(f"r{i}", (spec("raw", "a"),)) for i in range(4)]
    for run_id in runs:
        bench.dispatch(run_id, "raw[a]")
    for position, index in enumerate(order):
        at = T0 + timedelta(hours=hours[index], seconds=position)
        bench.apply(finished(runs[index], bench.task(runs[index], "raw[a]")), at=at)
    latest = max(range(4), key=lambda i: (hours[i], order.index(i)))
    assert bench.status("raw", "a")["last_materialization_run_id"] == runs[latest]


def test_l2_inv_8_a_failure_after_a_concurrent_success_keeps_that_success() -> None:
    bench = FoldBench()
    one = bench.new_run("one", (spec("raw", "a"),))
    two = bench.new_run("two", (spec("raw", "a"),))
    bench.dispatch(one, "raw[a]")
    bench.dispatch(two, "raw[a]")
    bench.finish(one, "raw[a]", "succeeded")
    bench.finish(two, "raw[a]", "failed")
    status = bench.status("raw", "a")
    assert status["last_materialization_run_id"] == one
    assert (status["last_attempt_run_id"], status["last_attempt_outcome"]) == (two, "failed")
