"""The backfill controller (DESIGN §5): preview, create, planning, completion, pause, cancel."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from arco.controllers.backfill_chunks import ChunkSlicer
from arco.controllers.backfills import (
    BackfillRequest,
    create,
    preview,
    request_transition,
    retry_failed,
)
from arco.errors import (
    IllegalTransitionError,
    InvalidPartitionRangeError,
    InvalidSelectorError,
    ValidationError,
    VersionConflictError,
)
from arco.events import (
    BackfillChunkPlanned,
    BackfillCreated,
    BackfillSource,
    BackfillState,
    BackfillStateChanged,
    FilterSelector,
    KeysSelector,
    RangeSelector,
    RunCancelRequested,
    RunRequested,
)
from arco.ids import run_id_from_run_key
from arco.partitions import (
    DailyPartitionsDefinition,
    MultiPartitionsDefinition,
    StaticPartitionsDefinition,
)
from support.backfills import SCOPE, BackfillWorld, chunk_keys
from support.factories import SECRET, T0

DAILY = DailyPartitionsDefinition(start_date="2023-01-01")
NOW = datetime(2024, 1, 1, tzinfo=UTC)
YEAR_2023 = RangeSelector(start="2023-01-01", end="2023-12-31")
S = BackfillState


# --- preview and create ------------------------------------------------------------


def test_preview_counts_chunks_and_shows_the_first_chunk() -> None:
    found = preview(DAILY, YEAR_2023, 100, NOW)
    assert (found.partition_count, found.chunk_count) == (365, 4)
    assert found.first_chunk_keys[:2] == ("2023-01-01", "2023-01-02")
    assert len(found.first_chunk_keys) == 100


def test_create_snapshots_the_definition_and_keeps_the_selector_unexpanded() -> None:
    request = BackfillRequest(("raw",), YEAR_2023, 50, 3, client_request_id="req-1")
    event = create(SCOPE, "B1", request, DAILY, NOW)
    data = event.data
    assert isinstance(data, BackfillCreated)
    assert data.selector == YEAR_2023
    assert data.partitions_def == DAILY.to_dict()
    assert (data.total_partitions, data.chunk_size, data.max_concurrent_runs) == (365, 50, 3)
    assert data.client_request_id == "req-1"
    assert event.idempotency_key == "backfill_create:B1"
    assert len(event.to_json()) < 1000  # a selector, not 365 keys


def test_no_concurrency_cap_means_every_chunk_may_run() -> None:
    event = create(SCOPE, "B1", BackfillRequest(("raw",), YEAR_2023, 10, None), DAILY, NOW)
    assert isinstance(event.data, BackfillCreated)
    assert event.data.max_concurrent_runs == 37


@pytest.mark.parametrize("size", [0, -1, 10_001])
def test_chunk_size_out_of_bounds_is_rejected_with_its_field(size: int) -> None:
    with pytest.raises(ValidationError) as raised:
        create(SCOPE, "B1", BackfillRequest(("raw",), YEAR_2023, size), DAILY, NOW)
    assert raised.value.field == "chunk_size"
    assert raised.value.allowed == "1..10000"


def test_bad_ranges_and_empty_selections_are_rejected() -> None:
    with pytest.raises(InvalidPartitionRangeError) as bad_end:
        preview(DAILY, RangeSelector(start="2023-01-01", end="2030-01-01"), 10, NOW)
    assert bad_end.value.field == "end"
    static = StaticPartitionsDefinition(["a", "b"])
    with pytest.raises(InvalidSelectorError):
        create(
            SCOPE,
            "B",
            BackfillRequest(("raw",), FilterSelector(dimensions={"key": "z*"}), 5),
            static,
            NOW,
        )
    with pytest.raises(ValidationError) as cap:
        create(SCOPE, "B", BackfillRequest(("raw",), YEAR_2023, 5, 0), DAILY, NOW)
    assert cap.value.field == "max_concurrent_runs"


def test_a_filter_over_an_open_ended_definition_is_pinned_to_the_current_range() -> None:
    event = create(
        SCOPE,
        "B",
        BackfillRequest(("raw",), FilterSelector(dimensions={"key": "2023-02-*"}), 10),
        DAILY,
        NOW,
    )
    data = event.data
    assert isinstance(data, BackfillCreated)
    assert isinstance(data.selector, FilterSelector)
    assert data.selector.range == RangeSelector(start="2023-01-01", end="2023-12-31")
    assert data.total_partitions == 28


# --- planning ----------------------------------------------------------------------


def test_the_first_decision_starts_the_backfill_and_every_decision_is_one_chunk() -> None:
    world = BackfillWorld()
    world.create(DAILY, YEAR_2023, chunk_size=100, max_concurrent_runs=2)
    decisions = world.run_pass("B1")
    assert [[type(e.data).__name__ for e in batch] for batch in decisions] == [
        ["BackfillStateChanged", "BackfillChunkPlanned", "RunRequested"],
        ["BackfillChunkPlanned", "RunRequested"],
    ]
    start = decisions[0][0].data
    assert isinstance(start, BackfillStateChanged)
    assert (start.from_state, start.to_state, start.state_version) == (S.PENDING, S.RUNNING, 1)
    planned, request = decisions[1]
    assert isinstance(planned.data, BackfillChunkPlanned)
    assert isinstance(request.data, RunRequested)
    assert planned.data.partition_keys[0] == "2023-04-11"  # day 101
    assert len(planned.data.partition_keys) == 100
    assert request.data.run_key == "backfill:B1:chunk:1"
    assert request.data.run_id == run_id_from_run_key("acme", "prod", "backfill:B1:chunk:1", SECRET)
    assert request.data.source == BackfillSource(backfill_id="B1", chunk_index=1)
    assert request.data.partition_selection == KeysSelector(keys=planned.data.partition_keys)
    assert world.view("B1").state == S.RUNNING
    assert world.doc("B1")["chunks_planned"] == 2


def test_chunk_keys_are_the_lazy_slice_of_the_selector() -> None:
    world = BackfillWorld()
    world.create(DAILY, YEAR_2023, chunk_size=100, max_concurrent_runs=10)
    world.run_pass("B1")
    keys = [tuple(chunk_keys(c)) for c in world.chunks("B1")]
    resolution = DAILY.resolve(YEAR_2023, NOW)
    assert keys == [tuple(resolution.keys(i * 100, 100)) for i in range(4)]
    assert sum(len(k) for k in keys) == 365
    assert (
        world.rows.table("runs")[str(world.chunks("B1")[3]["run_id"])]["run_key"]
        == "backfill:B1:chunk:3"
    )


def test_planning_waits_while_max_concurrent_runs_are_active() -> None:
    world = BackfillWorld()
    world.create(DAILY, YEAR_2023, chunk_size=10, max_concurrent_runs=3)
    assert len(world.run_pass("B1")) == 3
    assert world.run_pass("B1") == []
    world.finish_chunk("B1", 1, "succeeded")
    decisions = world.run_pass("B1")
    assert len(decisions) == 1
    chunk = decisions[0][0].data
    assert isinstance(chunk, BackfillChunkPlanned)
    assert chunk.chunk_index == 3


def test_a_second_controller_on_the_same_snapshot_duplicates_nothing() -> None:
    world = BackfillWorld()
    world.create(DAILY, YEAR_2023, chunk_size=100, max_concurrent_runs=2)
    first = world.decide("B1")
    second = world.decide("B1")  # same snapshot, same instant: same events
    assert [[e.event_id for e in b] for b in first] == [[e.event_id for e in b] for b in second]
    for batch in first:
        world.append(batch)
    assert all(all(world.append(batch)) for batch in second)


def test_all_chunks_succeeded_completes_the_backfill() -> None:
    world = _run_to_the_end(["succeeded"] * 4)
    assert world.view("B1").state == S.SUCCEEDED
    final = world.transitions()[-1]
    assert (final.from_state, final.to_state) == (S.RUNNING, S.SUCCEEDED)
    assert final.reason == "4 succeeded, 0 failed, 0 cancelled of 4 chunks"


def test_any_failed_chunk_fails_the_backfill_after_every_chunk_ran() -> None:
    world = _run_to_the_end(["succeeded", "failed", "succeeded", "succeeded"])
    assert world.view("B1").state == S.FAILED
    assert len(world.chunks("B1")) == 4  # the failure did not stop the other chunks


def _run_to_the_end(outcomes: list[str]) -> BackfillWorld:
    world = BackfillWorld()
    world.create(DAILY, YEAR_2023, chunk_size=100, max_concurrent_runs=1)
    for index, outcome in enumerate(outcomes):
        world.run_pass("B1")
        world.finish_chunk("B1", index, outcome)
    world.run_pass("B1")
    return world


# --- pause, resume, cancel ---------------------------------------------------------


def test_a_paused_backfill_plans_nothing_and_shows_failures_while_paused() -> None:
    world = BackfillWorld()
    world.create(DAILY, YEAR_2023, chunk_size=100, max_concurrent_runs=2)
    world.run_pass("B1")
    view = world.view("B1")
    pause = request_transition(view, "pause", view.state_version, NOW)
    assert pause is not None
    world.append([pause])
    world.finish_chunk("B1", 0, "failed")
    world.finish_chunk("B1", 1, "succeeded")
    assert world.decide("B1") == []
    from arco.controllers.backfill_states import display_state

    assert (
        display_state(world.view("B1").state, world.progress("B1").failed) == "PAUSED_WITH_FAILURES"
    )
    view = world.view("B1")
    resume = request_transition(view, "resume", view.state_version, NOW)
    assert resume is not None
    world.append([resume])
    assert [type(b[0].data).__name__ for b in world.run_pass("B1")] == ["BackfillChunkPlanned"] * 2


def test_a_retried_request_is_done_not_a_conflict_but_a_stale_one_is_a_conflict() -> None:
    world = BackfillWorld()
    world.create(DAILY, YEAR_2023)
    view = world.view("B1")
    pause = request_transition(view, "pause", 0, NOW)
    assert pause is not None
    world.append([pause])
    assert request_transition(world.view("B1"), "pause", 0, NOW) is None
    with pytest.raises(VersionConflictError) as raised:
        request_transition(world.view("B1"), "resume", 0, NOW)
    assert raised.value.details["current_state_version"] == 1
    with pytest.raises(IllegalTransitionError):
        request_transition(world.view("B1"), "pause", 1, NOW)


def test_cancel_cancels_active_runs_then_ends_cancelled() -> None:
    world = BackfillWorld()
    world.create(DAILY, YEAR_2023, chunk_size=100, max_concurrent_runs=2)
    world.run_pass("B1")
    view = world.view("B1")
    cancel = request_transition(view, "cancel", view.state_version, NOW)
    assert cancel is not None
    world.append([cancel])
    cancels = [batch[0].data for batch in world.decide("B1")]
    assert all(isinstance(c, RunCancelRequested) for c in cancels)
    assert {c.run_id for c in cancels} == {str(c["run_id"]) for c in world.chunks("B1")}  # type: ignore[union-attr]
    # Runs already being cancelled are not asked again, and nothing new is planned.
    for chunk in world.chunks("B1"):
        world.mark_run(str(chunk["run_id"]), "cancelling")
    assert world.decide("B1") == []
    world.finish_chunk("B1", 0, "cancelled")
    world.finish_chunk("B1", 1, "succeeded")  # a run may finish before the cancel lands
    world.run_pass("B1")
    assert world.view("B1").state == S.CANCELLED
    assert len(world.chunks("B1")) == 2


def test_cancelled_queued_runs_finish_their_chunks_through_the_execution_fold() -> None:
    world = BackfillWorld()
    world.create(DAILY, YEAR_2023, chunk_size=100, max_concurrent_runs=2)
    world.run_pass("B1")
    cancel = request_transition(world.view("B1"), "cancel", 1, NOW)
    assert cancel is not None
    world.append([cancel])
    world.run_pass("B1")  # RunCancelRequested: a queued run is cancelled at once
    assert [c["state"] for c in world.chunks("B1")] == ["cancelled", "cancelled"]
    world.run_pass("B1")
    assert world.view("B1").state == S.CANCELLED


def test_cancelling_a_pending_backfill_ends_cancelled_without_runs() -> None:
    world = BackfillWorld()
    world.create(DAILY, YEAR_2023)
    cancel = request_transition(world.view("B1"), "cancel", 0, NOW)
    assert cancel is not None
    world.append([cancel])
    world.run_pass("B1")
    assert world.view("B1").state == S.CANCELLED
    assert world.rows.table("runs") == {}


# --- retry-failed ------------------------------------------------------------------


def test_retry_failed_covers_only_the_given_keys_and_links_the_parent() -> None:
    world = _run_to_the_end(["succeeded", "failed", "succeeded", "succeeded"])
    parent = world.view("B1")
    failed = ["2023-04-11", "2023-04-12"]
    event = retry_failed(parent, failed, backfill_id="B2", retry_request_id="r1", now=NOW)
    data = event.data
    assert isinstance(data, BackfillCreated)
    assert data.selector == KeysSelector(keys=tuple(failed))
    assert (data.parent_backfill_id, data.total_partitions) == ("B1", 2)
    assert event.idempotency_key == "backfill_retry:B1:r1"
    world.append([event])
    assert world.doc("B1")["retry_backfill_ids"] == ["B2"]
    assert world.doc("B2")["parent_backfill_id"] == "B1"


def test_retry_failed_needs_a_finished_backfill_with_failures() -> None:
    world = BackfillWorld()
    world.create(DAILY, YEAR_2023)
    with pytest.raises(IllegalTransitionError) as running:
        retry_failed(
            world.view("B1"), ["2023-01-01"], backfill_id="B2", retry_request_id="r", now=NOW
        )
    assert running.value.details["current_state"] == "PENDING"
    failed = _run_to_the_end(["failed", "succeeded", "succeeded", "succeeded"]).view("B1")
    with pytest.raises(ValidationError):
        retry_failed(failed, [], backfill_id="B2", retry_request_id="r", now=NOW)


# --- filters resume their scan -----------------------------------------------------


def test_a_filter_chunk_resumed_after_the_previous_last_key_is_the_plain_slice() -> None:
    multi = MultiPartitionsDefinition(
        {
            "date": DailyPartitionsDefinition(start_date="2023-01-01", end_date="2023-03-01"),
            "region": StaticPartitionsDefinition(["eu-1", "eu-2", "us-1", "us-2"]),
        }
    )
    selector = FilterSelector(dimensions={"region": "us-*"})
    slicer = ChunkSlicer(multi, selector, 7)
    after = None
    for index in range(17):
        resumed = slicer.keys(index, after)
        assert resumed == slicer.keys(index)
        after = resumed[-1] if resumed else None
    assert slicer.keys(16)[-1] == "2023-02-28|us-2"


def test_planning_is_deterministic_for_the_same_inputs() -> None:
    worlds = [BackfillWorld(), BackfillWorld()]
    for world in worlds:
        world.create(DAILY, YEAR_2023, chunk_size=30, max_concurrent_runs=4)
        world.run_pass("B1")
    assert worlds[0].rows.digest() == worlds[1].rows.digest()
    assert worlds[0].now == T0


def test_range_chunks_are_the_same_in_any_order_they_are_asked_for() -> None:
    resolution = DAILY.resolve(YEAR_2023, NOW)
    expected = {i: resolution.keys(i * 40, 40) for i in range(10)}
    slicer = ChunkSlicer(DAILY, YEAR_2023, 40)
    for index in (0, 1, 2, 5, 6, 3, 9, 9, 4, 7, 8):
        assert slicer.keys(index) == expected[index]
    assert slicer.keys(10) == []
