"""The run bridge and dispatch controllers: pure decisions from docs and ``now``."""

from __future__ import annotations

from datetime import timedelta

import pytest

from arco.controllers import dispatch, run_bridge
from arco.controllers.asset_graph import AssetGraph, AssetNode
from arco.controllers.dispatch import Candidate, DispatchLimits
from arco.controllers.execution_views import RunView, TaskView
from arco.controllers.run_bridge import QueuedRun
from arco.errors import InvalidDefinitionError
from arco.events import (
    DispatchRequested,
    KeysSelector,
    PartitionSelector,
    PlanCreated,
    RangeSelector,
    RunTriggered,
)
from arco.events.execution import RetryPolicy, TimerFired
from arco.fold.rows import Scope
from arco.partitions import StaticPartitionsDefinition
from support.execution import FoldBench, spec
from support.factories import T0, TENANT, WORKSPACE

SCOPE = Scope(TENANT, WORKSPACE)
REGIONS = StaticPartitionsDefinition(["eu", "us", "asia"])


def graph() -> AssetGraph:
    return AssetGraph.of(
        [
            AssetNode("raw", partitions=REGIONS, code_version="r1"),
            AssetNode(
                "clean",
                deps=("raw",),
                partitions=REGIONS,
                retry_policy=RetryPolicy(max_retries=2, delay_seconds=5),
            ),
            AssetNode("summary", deps=("clean",)),
            AssetNode("lookup"),
        ]
    )


def queued(assets: tuple[str, ...], selector: PartitionSelector | None = None) -> QueuedRun:
    return QueuedRun(
        run_id="run_1",
        run_key="manual:1",
        asset_selection=assets,
        partition_selection=selector,
    )


def test_the_bridge_plans_one_task_per_asset_and_partition_with_edges_in_one_batch() -> None:
    run = queued(("summary", "clean", "raw"), RangeSelector(start="eu", end="us"))
    [decision] = run_bridge.reconcile(SCOPE, [run], graph(), T0)
    assert [e.data.type for e in decision] == ["RunTriggered", "PlanCreated"]
    assert decision[0].data == RunTriggered(run_id="run_1", run_key="manual:1")
    plan = decision[1].data
    assert isinstance(plan, PlanCreated)
    assert plan.error is None
    by_key = {t.task_key: t for t in plan.tasks}
    assert list(by_key) == ["raw[eu]", "raw[us]", "clean[eu]", "clean[us]", "summary"]
    assert by_key["clean[us]"].depends_on == ("raw[us]",)
    assert by_key["summary"].depends_on == ("clean[eu]", "clean[us]")
    assert by_key["raw[eu]"].code_version == "r1"
    assert by_key["clean[eu]"].retry_policy.max_retries == 2
    assert by_key["summary"].partition_key is None


def test_upstreams_outside_the_selection_are_not_waited_for() -> None:
    plan = run_bridge.plan_tasks(queued(("clean",), KeysSelector(keys=("asia",))), graph(), T0)
    assert [(t.task_key, t.depends_on) for t in plan] == [("clean[asia]", ())]


def test_the_same_run_is_planned_identically_every_time() -> None:
    run = queued(("raw", "clean"), KeysSelector(keys=("us",)))
    first = run_bridge.reconcile(SCOPE, [run], graph(), T0)
    assert run_bridge.reconcile(SCOPE, [run], graph(), T0) == first
    later = run_bridge.reconcile(SCOPE, [run], graph(), T0 + timedelta(seconds=3))
    assert [e.idempotency_key for e in later[0]] == [e.idempotency_key for e in first[0]]


@pytest.mark.parametrize(
    ("run", "kind"),
    [
        (queued(("nope",)), "unknown_asset"),
        (queued(("raw",)), "missing_partitions"),
        (queued(("raw",), KeysSelector(keys=("mars",))), "invalid_partition_key"),
        (queued(("raw", "clean"), RangeSelector(start="eu", end="asia")), "plan_too_large"),
    ],
)
def test_a_run_that_cannot_be_planned_gets_a_plan_with_an_error(run: QueuedRun, kind: str) -> None:
    [decision] = run_bridge.reconcile(SCOPE, [run], graph(), T0, max_tasks=5)
    plan = decision[1].data
    assert isinstance(plan, PlanCreated)
    assert plan.tasks == ()
    assert plan.error is not None
    assert plan.error.kind == kind


def test_queued_runs_are_read_from_their_docs() -> None:
    doc: dict[str, object] = {
        "run_id": "run_x",
        "run_key": "k",
        "asset_selection": ["raw"],
        "partition_selection": {"kind": "keys", "keys": ["eu"]},
    }
    run = QueuedRun.from_doc(doc)
    assert run.partition_selection == KeysSelector(keys=("eu",))
    assert run.asset_selection == ("raw",)


def test_the_asset_graph_refuses_cycles_and_duplicates() -> None:
    with pytest.raises(InvalidDefinitionError, match="cycle"):
        AssetGraph.of([AssetNode("a", deps=("b",)), AssetNode("b", deps=("a",))])
    with pytest.raises(InvalidDefinitionError, match="twice"):
        AssetGraph.of([AssetNode("a"), AssetNode("a")])


def test_an_all_mapping_makes_every_upstream_partition_a_dependency() -> None:
    g = AssetGraph.of(
        [
            AssetNode("raw", partitions=REGIONS),
            AssetNode(
                "rollup", deps=("raw",), partitions=REGIONS, partition_mappings={"raw": "all"}
            ),
        ]
    )
    plan = run_bridge.plan_tasks(queued(("raw", "rollup"), KeysSelector(keys=("eu", "us"))), g, T0)
    assert plan[-1].depends_on == ("raw[eu]", "raw[us]")


# --- dispatch -----------------------------------------------------------------------


def _bench_with_runs(count: int, tasks_per_run: int) -> tuple[FoldBench, list[str]]:
    bench = FoldBench()
    plan = tuple(spec("raw", f"p{i}") for i in range(tasks_per_run))
    return bench, [bench.new_run(f"k{i}", plan) for i in range(count)]


def _ready(bench: FoldBench) -> list[Candidate]:
    tasks = [TaskView.from_doc(d) for d in bench.rows.table("tasks").values()]
    ready = sorted((t for t in tasks if t.state == "ready"), key=lambda t: (t.run_id, t.task_index))
    return [Candidate(t) for t in ready]


def _runs(bench: FoldBench) -> dict[str, RunView]:
    return {k: RunView.from_doc(d) for k, d in bench.rows.table("runs").items()}


def test_dispatch_respects_the_per_run_limit_and_the_global_capacity() -> None:
    bench, _ = _bench_with_runs(3, 4)
    limits = DispatchLimits(max_concurrent_tasks=5, max_tasks_per_run=2)
    decisions = dispatch.reconcile(SCOPE, _ready(bench), _runs(bench), 5, T0, limits)
    assert len(decisions) == 5
    per_run: dict[str, int] = {}
    for [request] in decisions:
        assert isinstance(request.data, DispatchRequested)
        assert request.data.attempt == 1
        per_run[request.data.run_id] = per_run.get(request.data.run_id, 0) + 1
    assert sorted(per_run.values()) == [1, 2, 2]


def test_dispatch_counts_tasks_already_active_against_the_run_limit() -> None:
    bench, [run_id] = _bench_with_runs(1, 4)
    bench.dispatch(run_id, "raw[p0]")
    bench.dispatch(run_id, "raw[p1]")
    bench.start(run_id, "raw[p1]")
    limits = DispatchLimits(max_tasks_per_run=3)
    decisions = dispatch.reconcile(SCOPE, _ready(bench), _runs(bench), 100, T0, limits)
    assert len(decisions) == 1


def test_a_run_tag_lowers_the_per_run_limit() -> None:
    bench, [run_id] = _bench_with_runs(1, 4)
    run = bench.run(run_id)
    runs = {run_id: RunView.from_doc({**run, "tags": {"arco/max_concurrent_tasks": "1"}})}
    assert len(dispatch.reconcile(SCOPE, _ready(bench), runs, 100, T0)) == 1


def test_attempt_ids_are_fresh_per_attempt_and_deterministic() -> None:
    bench, [run_id] = _bench_with_runs(1, 1)
    [[first]] = dispatch.reconcile(SCOPE, _ready(bench), _runs(bench), 1, T0)
    [[again]] = dispatch.reconcile(SCOPE, _ready(bench), _runs(bench), 1, T0)
    assert first == again
    bench.apply_event(first)
    bench.dispatch(run_id, "raw[p0]")  # attempt 2 (re-dispatch)
    assert isinstance(first.data, DispatchRequested)
    assert bench.task(run_id, "raw[p0]")["attempt_id"] != first.data.attempt_id


def test_nothing_is_dispatched_for_a_cancelling_run() -> None:
    bench, [run_id] = _bench_with_runs(1, 2)
    candidates = _ready(bench)
    runs = {run_id: RunView.from_doc({**bench.run(run_id), "state": "cancelling"})}
    assert dispatch.reconcile(SCOPE, candidates, runs, 10, T0) == []


def test_a_due_retry_is_dispatched_with_its_timer_fired_in_the_same_batch() -> None:
    bench, [run_id] = _bench_with_runs(1, 1)
    task = TaskView.from_doc(bench.task(run_id, "raw[p0]"))
    [decision] = dispatch.reconcile(
        SCOPE, [Candidate(task, timer_id="retry:t")], _runs(bench), 1, T0
    )
    assert [type(e.data) for e in decision] == [TimerFired, DispatchRequested]
