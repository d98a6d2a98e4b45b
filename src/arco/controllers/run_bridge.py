"""The run bridge: a queued run without a plan → RunTriggered + PlanCreated, in one batch.

One task per selected asset × partition, keyed ``asset[partition]`` (``asset``
when unpartitioned), upstream assets first.  Edges come from the asset graph
and only join tasks of the same run: an upstream asset outside the selection
is assumed to be materialized already.  A run that cannot be planned (an
unknown asset, no partitions for a partitioned asset, a bad selector, too many
tasks) still gets its PlanCreated, with an ``error``, so it fails visibly
instead of staying queued forever.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from pydantic import TypeAdapter

from arco.controllers.asset_graph import AssetGraph, PartitionSpace
from arco.controllers.execution_views import event
from arco.errors import ArcoError
from arco.events import OrchestrationEvent, PartitionSelector, PlanCreated, RunTriggered
from arco.events.execution import TaskError, TaskSpec, task_key_for
from arco.fold.rows import Doc, Scope

MAX_TASKS_PER_RUN = 10_000
_SELECTOR: TypeAdapter[PartitionSelector] = TypeAdapter(PartitionSelector)


class PlanningError(ArcoError):
    """A run the graph cannot plan; ``kind`` becomes the plan error's kind."""

    code = "plan_failed"

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class QueuedRun:
    run_id: str
    run_key: str
    asset_selection: tuple[str, ...]
    partition_selection: PartitionSelector | None

    @classmethod
    def from_doc(cls, doc: Doc) -> QueuedRun:
        selection = doc.get("asset_selection")
        partitions = doc.get("partition_selection")
        return cls(
            run_id=str(doc["run_id"]),
            run_key=str(doc["run_key"]),
            asset_selection=tuple(str(a) for a in selection) if isinstance(selection, list) else (),
            partition_selection=None
            if partitions is None
            else _SELECTOR.validate_python(partitions),
        )


def reconcile(
    scope: Scope,
    runs: Sequence[QueuedRun],
    graph: AssetGraph,
    now: datetime,
    *,
    max_tasks: int = MAX_TASKS_PER_RUN,
) -> list[list[OrchestrationEvent]]:
    """One decision (RunTriggered + PlanCreated) per queued run."""
    return [bridge(scope, run, graph, now, max_tasks=max_tasks) for run in runs]


def bridge(
    scope: Scope,
    run: QueuedRun,
    graph: AssetGraph,
    now: datetime,
    *,
    max_tasks: int = MAX_TASKS_PER_RUN,
) -> list[OrchestrationEvent]:
    try:
        plan = PlanCreated(run_id=run.run_id, tasks=plan_tasks(run, graph, now, max_tasks))
    except PlanningError as error:
        failure = TaskError(kind=error.kind, message=error.message)
        plan = PlanCreated(run_id=run.run_id, tasks=(), error=failure)
    triggered = RunTriggered(run_id=run.run_id, run_key=run.run_key)
    return [event(scope, triggered, now), event(scope, plan, now)]


def plan_tasks(
    run: QueuedRun, graph: AssetGraph, now: datetime, max_tasks: int = MAX_TASKS_PER_RUN
) -> tuple[TaskSpec, ...]:
    """The run's tasks in plan order; raises PlanningError when it cannot be planned."""
    unknown = sorted(set(run.asset_selection) - set(graph.assets))
    if unknown:
        raise PlanningError("unknown_asset", f"the definitions have no asset {unknown}")
    keys: dict[str, list[str | None]] = {}
    for asset in graph.in_order(run.asset_selection):
        budget = max_tasks - sum(len(k) for k in keys.values())
        keys[asset] = _asset_keys(run, asset, graph.assets[asset].partitions, now, budget)
    return tuple(task for asset in keys for task in _asset_tasks(graph, asset, keys))


def _asset_tasks(
    graph: AssetGraph, asset: str, keys: Mapping[str, list[str | None]]
) -> list[TaskSpec]:
    node = graph.assets[asset]
    upstreams = [u for u in node.deps if u in keys]
    known = {u: set(keys[u]) for u in upstreams}
    tasks = []
    for partition in keys[asset]:
        depends_on: list[str] = []
        for upstream in upstreams:
            if node.mapping_to(graph.assets[upstream]) == "all":
                depends_on += [task_key_for(upstream, k) for k in keys[upstream]]
            elif partition in known[upstream]:
                depends_on.append(task_key_for(upstream, partition))
        tasks.append(
            TaskSpec(
                task_key=task_key_for(asset, partition),
                asset_key=asset,
                partition_key=partition,
                depends_on=tuple(depends_on),
                code_version=node.code_version,
                retry_policy=node.retry_policy,
            )
        )
    return tasks


def _asset_keys(
    run: QueuedRun, asset: str, space: PartitionSpace | None, now: datetime, budget: int
) -> list[str | None]:
    """The asset's partition keys in this run (``[None]`` when unpartitioned)."""
    if space is None:
        count = 1
    elif run.partition_selection is None:
        raise PlanningError(
            "missing_partitions", f"asset {asset!r} is partitioned; the run names no partitions"
        )
    else:
        try:
            resolution = space.resolve(run.partition_selection, now)
            count = resolution.count()
        except ArcoError as error:
            raise PlanningError(error.code, f"asset {asset!r}: {error.message}") from error
    if count > budget:
        raise PlanningError(
            "plan_too_large",
            f"asset {asset!r} adds {count} tasks; only {budget} more fit in one run (use a backfill)",
        )
    return [None] if space is None else list(resolution.keys(0, count))
