"""The pure fold for RunRequested (DESIGN §4): index, runs, conflicts, correlation."""

from __future__ import annotations

from arco.events import OrchestrationEvent, ScheduleTicked, StoredEvent, UnknownEvent
from arco.fold.apply import apply_event
from arco.fold.rows import MemoryRows
from support.factories import envelope, run_requested


def stored(event: OrchestrationEvent, offset: int) -> StoredEvent:
    return StoredEvent.of(event, offset)


def fold(*events: OrchestrationEvent) -> MemoryRows:
    rows = MemoryRows()
    for offset, event in enumerate(events, start=1):
        apply_event(rows, stored(event, offset))
    return rows


def test_l2_inv_4_same_run_key_and_fingerprint_is_one_run() -> None:
    first = envelope(run_requested("sched:S:1"))
    again = envelope(run_requested("sched:S:1"), seconds=5)
    rows = fold(first, again)
    runs = rows.table("runs")
    assert list(runs) == [run_requested("sched:S:1").run_id]
    assert rows.table("run_key_index")["sched:S:1"]["run_id"] == run_requested("sched:S:1").run_id
    assert rows.table("run_key_conflicts") == {}
    assert rows.digest() == fold(first).digest()


def test_l2_inv_5_same_run_key_other_fingerprint_records_a_conflict_not_a_run() -> None:
    first = envelope(run_requested("k", partition="2024-01-01"))
    other = envelope(run_requested("k", partition="2024-01-02"), seconds=1)
    rows = fold(first, other, other)
    assert len(rows.table("runs")) == 1
    conflicts = list(rows.table("run_key_conflicts").values())
    assert len(conflicts) == 1
    assert conflicts[0]["run_key"] == "k"
    assert conflicts[0]["existing_fingerprint"] == first.data.request_fingerprint  # type: ignore[union-attr]
    assert conflicts[0]["conflicting_fingerprint"] == other.data.request_fingerprint  # type: ignore[union-attr]


def test_run_ids_are_correlated_back_to_the_tick() -> None:
    tick = envelope(
        ScheduleTicked(
            schedule_id="S",
            tick_id="S:60",
            scheduled_epoch=60,
            status="triggered",
            run_key="sched:S:60",
        )
    )
    request = envelope(run_requested("sched:S:60", tick="S:60"))
    rows = MemoryRows()
    # The schedule fold lands with the automation work; seed its tick row directly.
    from arco.fold.context import FoldContext
    from arco.fold.tables import SCHEDULE_TICKS

    FoldContext(rows, stored(tick, 1)).put(SCHEDULE_TICKS, "S:60", {"tick_id": "S:60"})
    apply_event(rows, stored(request, 2))
    assert rows.table("schedule_ticks")["S:60"]["run_id"] == request.data.run_id  # type: ignore[union-attr]


def test_refolding_the_same_event_keeps_row_versions() -> None:
    event = envelope(run_requested("k"))
    rows = fold(event)
    before = dict(rows.rows)
    apply_event(rows, stored(envelope(run_requested("k"), seconds=99), 2))
    assert rows.rows == before


def test_unknown_events_are_skipped_with_a_warning() -> None:
    event = stored(envelope(run_requested("k")), 1).model_copy(
        update={"event_type": "Future", "data": UnknownEvent(type="Future", raw={})}
    )
    rows = MemoryRows()
    outcome = apply_event(rows, event)
    assert not outcome.applied
    assert outcome.warnings
    assert "Future" in outcome.warnings[0]
    assert rows.rows == {}


def test_fold_reads_no_time_but_the_event_timestamp() -> None:
    rows = fold(envelope(run_requested("k"), seconds=3600))
    (run,) = rows.table("runs").values()
    assert run["requested_at"] == "2024-01-01T01:00:00.000000Z"
