"""The pure fold of schedule events: definitions, state (the controller's cursor) and ticks."""

from __future__ import annotations

import random
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from arco.controllers.schedules import manual_tick
from arco.events import OrchestrationEvent, StoredEvent
from arco.events.schedules import (
    ScheduleCreated,
    SchedulePaused,
    ScheduleResumed,
    ScheduleTicked,
    ScheduleUpdated,
)
from arco.fold.apply import apply_event
from arco.fold.rows import Doc, MemoryRows
from arco.ids import run_id_from_run_key
from support.factories import SECRET, TENANT, WORKSPACE, envelope
from support.schedules import SCHEDULE_ID, Simulation, at, spec

SID = SCHEDULE_ID


def fold(*events: OrchestrationEvent, rows: MemoryRows | None = None) -> MemoryRows:
    rows = rows if rows is not None else MemoryRows()
    start = len(rows.rows) * 1000
    for offset, event in enumerate(events, start=start + 1):
        apply_event(rows, StoredEvent.of(event, offset))
    return rows


def created(version: int = 1, **overrides: object) -> OrchestrationEvent:
    return envelope(
        ScheduleCreated(schedule_id=SID, definition_version=version, spec=spec(**overrides)),
        seconds=version,
    )


def definition_of(rows: MemoryRows) -> Doc:
    return rows.table("schedule_definitions")[SID]


# --- definitions ----------------------------------------------------------------------


def test_created_schedule_is_a_definition_row_with_its_spec_and_version() -> None:
    doc = definition_of(fold(created()))
    assert doc["schedule_id"] == SID
    assert doc["definition_version"] == 1
    assert doc["name"] == "nightly"
    assert doc["enabled"] is True
    assert doc["spec"]["cron"] == "0 * * * *"  # type: ignore[index]
    assert doc["created_at"] == "2024-01-01T00:00:01.000000Z"
    assert doc["paused_at"] is None


def test_update_pause_resume_move_the_version_and_the_flags() -> None:
    rows = fold(
        created(),
        envelope(
            ScheduleUpdated(schedule_id=SID, definition_version=2, spec=spec(name="renamed")),
            seconds=10,
        ),
        envelope(
            SchedulePaused(schedule_id=SID, definition_version=3, changed_by="ann"), seconds=20
        ),
    )
    doc = definition_of(rows)
    assert (doc["definition_version"], doc["name"], doc["enabled"]) == (3, "renamed", False)
    assert doc["paused_at"] == "2024-01-01T00:00:20.000000Z"
    assert doc["changed_by"] == "ann"
    fold(envelope(ScheduleResumed(schedule_id=SID, definition_version=4), seconds=30), rows=rows)
    doc = definition_of(rows)
    assert (doc["enabled"], doc["resumed_at"]) == (True, "2024-01-01T00:00:30.000000Z")


def test_an_older_or_repeated_definition_version_changes_nothing() -> None:
    update = envelope(
        ScheduleUpdated(schedule_id=SID, definition_version=2, spec=spec(name="v2")), seconds=10
    )
    rows = fold(created(), update)
    before = dict(rows.rows)
    fold(created(), update, envelope(update.data, seconds=99), rows=rows)
    assert rows.rows == before


def test_only_a_cron_or_timezone_change_resets_the_timing() -> None:
    rows = fold(created())
    fold(
        envelope(
            ScheduleUpdated(schedule_id=SID, definition_version=2, spec=spec(tags={"a": "b"})),
            seconds=10,
        ),
        rows=rows,
    )
    assert definition_of(rows)["timing_changed_at"] is None
    fold(
        envelope(
            ScheduleUpdated(
                schedule_id=SID, definition_version=3, spec=spec(timezone="Europe/Paris")
            ),
            seconds=20,
        ),
        rows=rows,
    )
    assert definition_of(rows)["timing_changed_at"] == "2024-01-01T00:00:20.000000Z"


def test_pausing_a_paused_schedule_keeps_when_the_pause_began() -> None:
    rows = fold(
        created(),
        envelope(SchedulePaused(schedule_id=SID, definition_version=2), seconds=10),
        envelope(SchedulePaused(schedule_id=SID, definition_version=3), seconds=20),
    )
    assert definition_of(rows)["paused_at"] == "2024-01-01T00:00:10.000000Z"


def test_a_schedule_created_paused_is_paused_since_its_creation() -> None:
    event = envelope(
        ScheduleCreated(schedule_id=SID, definition_version=1, spec=spec(), enabled=False)
    )
    doc = definition_of(fold(event))
    assert (doc["enabled"], doc["paused_at"]) == (False, doc["created_at"])


def test_a_pause_for_an_unknown_schedule_is_ignored_with_a_warning() -> None:
    rows = MemoryRows()
    outcome = apply_event(
        rows, StoredEvent.of(envelope(SchedulePaused(schedule_id=SID, definition_version=2)), 1)
    )
    assert rows.rows == {}
    assert outcome.warnings
    assert SID in outcome.warnings[0]


# --- ticks and state ------------------------------------------------------------------


def tick(epoch: int, status: str = "triggered", **fields: object) -> ScheduleTicked:
    values: dict[str, object] = {
        "schedule_id": SID,
        "tick_id": f"{SID}:{epoch}",
        "scheduled_epoch": epoch,
        "status": status,
    }
    values.update(fields)
    return ScheduleTicked.model_validate(values)


def state_of(rows: MemoryRows) -> Doc:
    return rows.table("schedule_state")[SID]


def test_l2_inv_1_the_same_tick_id_twice_changes_nothing() -> None:
    first = envelope(tick(3600), seconds=1)
    rows = fold(first)
    before = dict(rows.rows)
    # Redelivered, or re-decided later by another controller with another body.
    fold(first, envelope(tick(3600, status="failed", error="x"), seconds=50), rows=rows)
    assert rows.rows == before
    assert rows.table("schedule_ticks")[f"{SID}:3600"]["status"] == "triggered"


def test_the_cursor_is_the_latest_instant_decided_whatever_the_order() -> None:
    rows = fold(envelope(tick(7200)), envelope(tick(3600)))
    state = state_of(rows)
    assert state["last_scheduled_epoch"] == 7200
    assert state["last_tick_id"] == f"{SID}:7200"
    assert state["last_scheduled_at"] == "1970-01-01T02:00:00.000000Z"


def test_a_skip_record_moves_the_cursor_to_its_last_instant() -> None:
    record = tick(
        3600,
        "skipped",
        tick_id=f"{SID}:catchup_limit:3600",
        reason="catchup_limit",
        skipped_count=3,
        skipped_through_epoch=10800,
    )
    rows = fold(envelope(record))
    assert state_of(rows)["last_scheduled_epoch"] == 10800
    doc = rows.table("schedule_ticks")[f"{SID}:catchup_limit:3600"]
    assert (doc["skipped_count"], doc["skipped_through_at"]) == (3, "1970-01-01T03:00:00.000000Z")


def test_paused_records_manual_ticks_and_invalid_definitions_leave_the_cursor_alone() -> None:
    paused = tick(
        3600,
        "skipped",
        tick_id=f"{SID}:paused:3600",
        reason="paused",
        skipped_count=1,
        skipped_through_epoch=3600,
    )
    manual = tick(5000, tick_id=f"{SID}:manual:5000", manual=True)
    invalid = tick(6000, "failed", tick_id=f"{SID}:invalid:v1", reason="invalid_definition")
    state = state_of(fold(envelope(paused), envelope(manual), envelope(invalid)))
    assert state["last_scheduled_epoch"] is None
    assert state["last_paused_epoch"] == 3600
    assert state["last_manual_tick_id"] == f"{SID}:manual:5000"


def test_l2_inv_10_tick_run_key_and_run_id_form_one_chain() -> None:
    sim = Simulation()
    sim.create(spec(), "2024-01-01T00:00:00Z")
    sim.step(at("2024-01-01T01:00:00Z"))
    (tick_doc,) = sim.ticks("triggered")
    run_key = tick_doc["run_key"]
    assert run_key == f"sched:{SID}:{tick_doc['scheduled_epoch']}"
    run_id = run_id_from_run_key(TENANT, WORKSPACE, str(run_key), SECRET)
    assert tick_doc["run_id"] == run_id
    assert sim.rows.table("run_key_index")[str(run_key)]["run_id"] == run_id
    run = sim.runs()[run_id]
    assert run["source"] == {"kind": "schedule", "schedule_id": SID, "tick_id": tick_doc["tick_id"]}
    assert state_of(sim.rows)["last_run_key"] == run_key


# --- delivery order ---------------------------------------------------------------------


def recorded_history() -> tuple[list[list[OrchestrationEvent]], list[list[OrchestrationEvent]]]:
    """(definition batches, controller decisions) of a day with catch-up, pause and a manual tick."""
    sim = Simulation()
    sim.create(spec(cron="*/20 * * * *", max_catchup_ticks=3), "2024-01-01T00:00:00Z")
    sim.step(at("2024-01-01T02:00:00Z"))  # late start: catch-up
    sim.run(at("2024-01-01T02:00:01Z"), at("2024-01-01T04:00:00Z"))
    sim.pause("2024-01-01T04:10:00Z")
    sim.run(at("2024-01-01T04:10:01Z"), at("2024-01-01T06:00:00Z"))
    sim.resume("2024-01-01T06:30:00Z")
    definition, _ = sim.current()
    sim.fold(manual_tick(definition, at("2024-01-01T06:31:00Z"), SECRET))
    sim.run(at("2024-01-01T06:30:01Z"), at("2024-01-01T08:00:00Z"))
    is_definition = [
        isinstance(b[0].data, ScheduleCreated | SchedulePaused | ScheduleResumed)
        for b in sim.appended
    ]
    definitions = [b for b, d in zip(sim.appended, is_definition, strict=True) if d]
    decisions = [b for b, d in zip(sim.appended, is_definition, strict=True) if not d]
    return definitions, decisions


DEFINITIONS, DECISIONS = recorded_history()


def docs(rows: MemoryRows) -> dict[str, dict[str, Doc]]:
    return {t: rows.table(t) for t in ("schedule_ticks", "schedule_state", "runs", "run_key_index")}


def test_the_recorded_history_covers_every_kind_of_tick() -> None:
    reasons = {d[0].data.reason for d in DECISIONS}  # type: ignore[union-attr]
    assert {"catchup_limit", "paused", None} <= reasons
    assert any(d[0].data.manual for d in DECISIONS)  # type: ignore[union-attr]


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), repeats=st.lists(st.integers(0, 40), max_size=30))
def test_shuffled_and_duplicated_decisions_fold_to_one_projection(
    seed: int, repeats: list[int]
) -> None:
    in_order = fold(*(e for batch in DEFINITIONS + DECISIONS for e in batch))
    delivered = list(DECISIONS) + [DECISIONS[i % len(DECISIONS)] for i in repeats]
    random.Random(seed).shuffle(delivered)
    shuffled = fold(*(e for batch in DEFINITIONS + delivered for e in batch))
    assert docs(shuffled) == docs(in_order)


def test_replaying_the_same_ledger_gives_byte_identical_projections() -> None:
    events = [e for batch in DEFINITIONS + DECISIONS for e in batch]
    assert fold(*events).digest() == fold(*events).digest()


def test_the_fold_reads_no_clock_only_event_timestamps() -> None:
    later = envelope(tick(3600), seconds=int(timedelta(days=3).total_seconds()))
    doc = fold(later).table("schedule_ticks")[f"{SID}:3600"]
    assert doc["recorded_at"] == "2024-01-04T00:00:00.000000Z"
