"""Retries through timers, heartbeat timeouts and re-dispatch of attempts that never started."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from arco.controllers import anti_entropy, dispatch, timers
from arco.controllers.dispatch import Candidate
from arco.controllers.execution_views import RunView, TaskView, TimerView
from arco.events import OrchestrationEvent
from arco.events.execution import (
    DispatchRequested,
    RetryPolicy,
    TaskFinished,
    TimerFired,
    TimerRequested,
)
from arco.fold.rows import Scope
from support.execution import FoldBench, spec
from support.factories import T0, TENANT, WORKSPACE

SCOPE = Scope(TENANT, WORKSPACE)


def view(bench: FoldBench, run_id: str, key: str = "raw[a]") -> TaskView:
    return TaskView.from_doc(bench.task(run_id, key))


def runs(bench: FoldBench) -> dict[str, RunView]:
    return {k: RunView.from_doc(d) for k, d in bench.rows.table("runs").items()}


def apply_all(bench: FoldBench, decisions: list[list[OrchestrationEvent]]) -> None:
    for decision in decisions:
        for event in decision:
            bench.apply_event(event)


def at(bench: FoldBench, seconds: float) -> datetime:
    return bench.now + timedelta(seconds=seconds)


def test_retry_with_exponential_backoff_goes_through_a_timer() -> None:
    bench = FoldBench()
    policy = RetryPolicy(max_retries=2, delay_seconds=10, backoff="exponential")
    plan = (spec("raw", "a", policy=policy),)
    run_id = bench.new_run("k", plan)
    bench.run_task(run_id, "raw[a]", "failed")
    failed_at = bench.now
    [[requested]] = timers.request_retry_timers(SCOPE, [view(bench, run_id)], failed_at)
    assert isinstance(requested.data, TimerRequested)
    assert requested.data.purpose == "retry"
    assert requested.data.fire_at_epoch_ms == int(
        (failed_at + timedelta(seconds=10)).timestamp() * 1000
    )
    bench.apply_event(requested)
    assert timers.request_retry_timers(SCOPE, [view(bench, run_id)], failed_at) == []

    waiting = [view(bench, run_id)]
    assert timers.due_retries(waiting, failed_at + timedelta(seconds=9)) == []
    [due] = timers.due_retries(waiting, failed_at + timedelta(seconds=10))
    [decision] = dispatch.reconcile(
        SCOPE, [Candidate(due, due.retry_timer_id)], runs(bench), 1, at(bench, 10)
    )
    assert [type(e.data) for e in decision] == [TimerFired, DispatchRequested]
    apply_all(bench, [decision])
    task = bench.task(run_id, "raw[a]")
    assert (task["state"], task["attempt"]) == ("dispatched", 2)
    assert bench.rows.table("timers")[requested.data.timer_id]["state"] == "fired"

    bench.start(run_id, "raw[a]")
    bench.finish(run_id, "raw[a]", "failed")
    [[second]] = timers.request_retry_timers(SCOPE, [view(bench, run_id)], bench.now)
    assert isinstance(second.data, TimerRequested)
    delay_ms = second.data.fire_at_epoch_ms - int(bench.now.timestamp() * 1000)
    assert delay_ms == 20_000  # doubled for the second failure


@pytest.mark.parametrize(
    ("policy", "failures", "seconds"),
    [
        (RetryPolicy(delay_seconds=5), 1, 5),
        (RetryPolicy(delay_seconds=5), 3, 5),
        (RetryPolicy(delay_seconds=5, backoff="exponential"), 1, 5),
        (RetryPolicy(delay_seconds=5, backoff="exponential"), 3, 20),
        (RetryPolicy(delay_seconds=3600, backoff="exponential"), 30, 86400),
    ],
)
def test_retry_delay(policy: RetryPolicy, failures: int, seconds: float) -> None:
    assert timers.retry_delay(policy, failures, "seed") == timedelta(seconds=seconds)


def test_jitter_is_deterministic_and_within_half_to_one_and_a_half() -> None:
    policy = RetryPolicy(delay_seconds=10, jitter=True)
    delays = {timers.retry_delay(policy, 1, f"attempt-{i}") for i in range(50)}
    assert all(timedelta(seconds=5) <= d < timedelta(seconds=15) for d in delays)
    assert len(delays) > 40
    assert timers.retry_delay(policy, 1, "x") == timers.retry_delay(policy, 1, "x")


def test_a_silent_running_attempt_times_out_and_is_retried() -> None:
    bench = FoldBench()
    run_id = bench.new_run("k", (spec("raw", "a", retries=1),))
    bench.dispatch(run_id, "raw[a]")
    bench.start(run_id, "raw[a]", worker="w9")
    bench.heartbeat(run_id, "raw[a]", 1)
    last = bench.now
    timeout = timedelta(seconds=30)
    running = [view(bench, run_id)]
    assert timers.heartbeat_timeouts(SCOPE, running, last + timedelta(seconds=29), timeout) == []
    [[lost]] = timers.heartbeat_timeouts(SCOPE, running, last + timeout, timeout)
    assert isinstance(lost.data, TaskFinished)
    assert lost.data.outcome == "failed"
    assert lost.data.error is not None
    assert lost.data.error.kind == "heartbeat_timeout"
    assert "w9" in lost.data.error.message
    assert lost.data.attempt_id == bench.task(run_id, "raw[a]")["attempt_id"]
    # The worker's own report of that attempt would carry the same idempotency key.
    assert lost.idempotency_key == f"task_finished:{lost.data.attempt_id}"
    bench.apply_event(lost)
    task = bench.task(run_id, "raw[a]")
    assert task["state"] == "retry_wait"
    assert bench.status("raw", "a")["last_attempt_error"]["kind"] == "heartbeat_timeout"


def test_an_attempt_that_never_started_is_dispatched_again_as_a_new_attempt() -> None:
    bench = FoldBench()
    run_id = bench.new_run("k", (spec("raw", "a"),))
    first = bench.dispatch(run_id, "raw[a]")
    dispatched_at = bench.now
    timeout = timedelta(minutes=5)
    tasks = [view(bench, run_id)]
    early = dispatched_at + timedelta(minutes=4)
    assert (
        anti_entropy.reconcile(
            SCOPE, tasks, runs(bench), early, timeout=timeout, max_redispatches=2
        )
        == []
    )
    [[again]] = anti_entropy.reconcile(
        SCOPE, tasks, runs(bench), dispatched_at + timeout, timeout=timeout, max_redispatches=2
    )
    assert isinstance(again.data, DispatchRequested)
    assert again.data.attempt == 2
    assert again.data.attempt_id != first
    bench.apply_event(again)
    task = bench.task(run_id, "raw[a]")
    assert (task["state"], task["attempt_id"], task["abandoned"]) == (
        "dispatched",
        again.data.attempt_id,
        1,
    )


def test_after_too_many_re_dispatches_the_attempt_is_reported_failed() -> None:
    bench = FoldBench()
    run_id = bench.new_run("k", (spec("raw", "a"), spec("clean", "a", deps=("raw[a]",))))
    bench.dispatch(run_id, "raw[a]")
    bench.dispatch(run_id, "raw[a]")
    timeout = timedelta(minutes=5)
    [[lost]] = anti_entropy.reconcile(
        SCOPE,
        [view(bench, run_id)],
        runs(bench),
        bench.now + timeout,
        timeout=timeout,
        max_redispatches=1,
    )
    assert isinstance(lost.data, TaskFinished)
    assert lost.data.error is not None
    assert lost.data.error.kind == "dispatch_timeout"
    bench.apply_event(lost)
    assert bench.states(run_id) == {"raw[a]": "failed", "clean[a]": "skipped"}
    assert bench.run(run_id)["state"] == "failed"


def test_no_re_dispatch_for_a_run_that_is_not_running() -> None:
    bench = FoldBench()
    run_id = bench.new_run("k", (spec("raw", "a"),))
    bench.dispatch(run_id, "raw[a]")
    stopped = {run_id: RunView(run_id, "cancelling", 1, None)}
    decisions = anti_entropy.reconcile(
        SCOPE,
        [view(bench, run_id)],
        stopped,
        bench.now + timedelta(hours=1),
        timeout=timedelta(minutes=5),
        max_redispatches=3,
    )
    assert decisions == []


def test_timers_nobody_waits_for_are_fired_when_due() -> None:
    due = TimerView("t1", "requested", "retry", T0, "r", "x")
    awaited = TimerView("t2", "requested", "retry", T0, "r", "y")
    future = TimerView("t3", "requested", "retry", T0 + timedelta(hours=1), "r", "z")
    fired = TimerView("t4", "fired", "retry", T0, "r", "w")
    decisions = timers.fire_orphan_timers(SCOPE, [due, awaited, future, fired], {"t2"}, T0)
    assert [[e.data for e in d] for d in decisions] == [[TimerFired(timer_id="t1", run_id="r")]]
