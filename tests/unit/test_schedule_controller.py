"""The schedule controller (pure): due ticks, catch-up, pause, manual ticks, failures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError as PydanticValidationError

from arco.controllers.schedule_partitions import scheduled_partition_selection
from arco.controllers.schedules import (
    ScheduleState,
    evaluate,
    manual_tick,
    next_due,
    reconcile,
    run_requested_for_tick,
)
from arco.cron import CronSchedule
from arco.errors import InvalidDefinitionError
from arco.events import (
    KeysSelector,
    OrchestrationEvent,
    RunRequested,
    ScheduleSource,
    ScheduleTicked,
)
from arco.events.schedules import ScheduledPartitions, TickSnapshot
from arco.ids import request_fingerprint, run_id_from_run_key
from arco.partitions import (
    DailyPartitionsDefinition,
    MultiPartitionsDefinition,
    StaticPartitionsDefinition,
)
from arco.sdk.schedules import ScheduleDefinition
from support.factories import SECRET, TENANT, WORKSPACE
from support.schedules import SCHEDULE_ID, Simulation, at, definition, secret_for, spec

EPOCH_10 = int(at("2024-01-02T10:00:00Z").timestamp())


def ticked(decision: list[OrchestrationEvent]) -> ScheduleTicked:
    data = decision[0].data
    assert isinstance(data, ScheduleTicked)
    return data


def test_a_due_tick_is_one_decision_a_tick_and_its_run_request() -> None:
    decisions = reconcile(
        [definition()], {}, at("2024-01-02T10:00:05Z"), secret_for
    )  # hourly, created 2024-01-01T00:00 -> 34 ticks due, 10 kept
    tick_decision = decisions[-1]
    tick, request = (event.data for event in tick_decision)
    assert isinstance(tick, ScheduleTicked)
    assert isinstance(request, RunRequested)
    assert tick.tick_id == f"{SCHEDULE_ID}:{EPOCH_10}"
    assert tick.status == "triggered"
    assert request.run_key == tick.run_key == f"sched:{SCHEDULE_ID}:{EPOCH_10}"
    assert (
        request.run_id
        == tick.run_id
        == run_id_from_run_key(TENANT, WORKSPACE, request.run_key, SECRET)
    )
    assert request.source == ScheduleSource(schedule_id=SCHEDULE_ID, tick_id=tick.tick_id)
    assert request.request_fingerprint == request_fingerprint(("raw",), None, {})
    assert tick_decision[1].causation_id == tick_decision[0].event_id
    assert tick_decision[0].correlation_id == request.run_id


def test_nothing_is_due_before_the_first_instant_after_creation() -> None:
    created = definition(created="2024-01-01T10:00:00.5Z")
    assert reconcile([created], {}, at("2024-01-01T10:59:59Z"), secret_for) == []
    assert next_due(created, ScheduleState(), at("2024-01-01T10:59:59Z")) == at(
        "2024-01-01T11:00:00Z"
    )
    (decision,) = reconcile([created], {}, at("2024-01-01T11:00:00Z"), secret_for)
    assert ticked(decision).scheduled_epoch == int(at("2024-01-01T11:00:00Z").timestamp())


def test_the_cursor_stops_a_tick_from_being_decided_again() -> None:
    state = ScheduleState(last_scheduled_epoch=EPOCH_10)
    now = at("2024-01-02T10:30:00Z")
    assert evaluate(definition(), state, now, secret_for).decisions == []
    assert next_due(definition(), state, now) == at("2024-01-02T11:00:00Z")


def test_the_same_inputs_give_the_same_events() -> None:
    now = at("2024-01-02T10:00:05Z")
    assert reconcile([definition()], {}, now, secret_for) == reconcile(
        [definition()], {}, now, secret_for
    )


def test_catch_up_keeps_the_latest_ticks_oldest_first_and_records_the_dropped_ones() -> None:
    hourly = definition(spec(max_catchup_ticks=3), created="2024-01-02T04:30:00Z")
    state = ScheduleState(last_scheduled_epoch=int(at("2024-01-02T05:00:00Z").timestamp()))
    decisions = reconcile([hourly], {SCHEDULE_ID: state}, at("2024-01-02T10:00:30Z"), secret_for)
    skipped, *triggered = (ticked(d) for d in decisions)
    assert [t.status for t in triggered] == ["triggered"] * 3
    assert [datetime.fromtimestamp(t.scheduled_epoch, UTC).hour for t in triggered] == [8, 9, 10]
    assert skipped.status == "skipped"
    assert skipped.reason == "catchup_limit"
    assert skipped.skipped_count == 2
    assert skipped.scheduled_epoch == int(at("2024-01-02T06:00:00Z").timestamp())
    assert skipped.skipped_through_epoch == int(at("2024-01-02T07:00:00Z").timestamp())
    assert skipped.tick_id == f"{SCHEDULE_ID}:catchup_limit:{skipped.scheduled_epoch}"
    assert all(len(d) == 1 for d in decisions[:1])  # a skip record requests no run


def test_ticks_older_than_the_window_are_one_visible_record() -> None:
    minutely = definition(
        spec(cron="* * * * *", catchup_window_minutes=60, max_catchup_ticks=100),
        created="2024-01-01T00:00:00Z",
    )
    decisions = reconcile([minutely], {}, at("2024-01-08T00:00:00Z"), secret_for)
    late = ticked(decisions[0])
    assert late.reason == "catchup_window"
    # Ticks up to window + one minute late are kept: 22:59 .. 00:00 is 62 ticks.
    assert late.skipped_count == 7 * 24 * 60 - 62
    assert late.scheduled_epoch == int(at("2024-01-01T00:01:00Z").timestamp())
    kept = [ticked(d) for d in decisions[1:]]
    assert [t.status for t in kept] == ["triggered"] * 62
    assert kept[0].scheduled_epoch == late.skipped_through_epoch + 60  # type: ignore[operator]


@pytest.mark.parametrize(("late_by", "fires"), [(30, True), (59, True), (61, False)])
def test_a_zero_window_still_fires_a_tick_evaluated_within_a_minute(
    late_by: int, fires: bool
) -> None:
    daily = definition(
        spec(cron="0 10 * * *", catchup_window_minutes=0), created="2024-01-02T00:00Z"
    )
    now = at("2024-01-02T10:00:00Z") + timedelta(seconds=late_by)
    (decision,) = reconcile([daily], {}, now, secret_for)
    assert (ticked(decision).status == "triggered") is fires


def test_a_paused_schedule_records_the_first_skipped_instant_then_at_most_one_record_an_hour() -> (
    None
):
    sim = Simulation()
    sim.create(spec(cron="* * * * *"), "2024-01-01T00:00:00Z")
    sim.run(at("2024-01-01T00:00:00Z"), at("2024-01-01T00:30:00Z"), every=timedelta(minutes=1))
    sim.pause("2024-01-01T00:30:30Z")
    sim.run(at("2024-01-01T00:31:00Z"), at("2024-01-01T03:31:00Z"), every=timedelta(minutes=1))
    records = sim.ticks("skipped")
    assert [r["reason"] for r in records] == ["paused"] * 4
    assert [r["skipped_count"] for r in records] == [1, 60, 60, 60]
    assert len(sim.ticks("triggered")) == len(sim.runs()) == 30  # 00:01 .. 00:30 only


def test_paused_next_due_waits_for_the_next_record_not_every_instant() -> None:
    sim = Simulation()
    sim.create(spec(cron="* * * * *"), "2024-01-01T00:00:00Z")
    sim.pause("2024-01-01T00:30:30Z")
    assert sim.step(at("2024-01-01T00:31:00Z")) == at("2024-01-01T01:31:00Z")
    passes = sim.run(at("2024-01-01T00:31:00Z"), at("2024-01-01T05:00:00Z"))
    assert passes == 5  # one pass per hourly record, not one per minute


def test_resume_does_not_catch_up_paused_instants_by_default() -> None:
    sim = Simulation()
    sim.create(spec(cron="*/15 * * * *"), "2024-01-01T00:00:00Z")
    sim.run(at("2024-01-01T00:00:00Z"), at("2024-01-01T01:00:00Z"))
    sim.pause("2024-01-01T01:05:00Z")
    sim.resume("2024-01-01T02:40:00Z")  # nobody evaluated the schedule in between
    sim.run(at("2024-01-01T02:40:01Z"), at("2024-01-01T03:00:00Z"))
    assert sim.triggered_instants() == [
        "2024-01-01T00:15:00+00:00",
        "2024-01-01T00:30:00+00:00",
        "2024-01-01T00:45:00+00:00",
        "2024-01-01T01:00:00+00:00",
        "2024-01-01T02:45:00+00:00",
        "2024-01-01T03:00:00+00:00",
    ]
    (paused,) = sim.ticks("skipped")
    assert (paused["reason"], paused["skipped_count"]) == ("paused", 6)  # 01:15 .. 02:30


def test_resume_catches_up_when_asked_within_window_and_limit() -> None:
    sim = Simulation()
    sim.create(
        spec(cron="*/15 * * * *", catch_up_on_resume=True, max_catchup_ticks=4),
        "2024-01-01T00:00:00Z",
    )
    sim.run(at("2024-01-01T00:00:00Z"), at("2024-01-01T01:00:00Z"))
    sim.pause("2024-01-01T01:05:00Z")
    sim.run(at("2024-01-01T01:15:00Z"), at("2024-01-01T02:30:00Z"))
    sim.resume("2024-01-01T02:40:00Z")
    sim.step(at("2024-01-01T02:40:01Z"))
    assert sim.triggered_instants()[-4:] == [
        "2024-01-01T01:45:00+00:00",
        "2024-01-01T02:00:00+00:00",
        "2024-01-01T02:15:00+00:00",
        "2024-01-01T02:30:00+00:00",
    ]
    assert [(r["reason"], r["skipped_count"]) for r in sim.ticks("skipped")] == [
        ("catchup_limit", 2),  # 01:15, 01:30
        ("paused", 1),  # 01:15, recorded at once
        ("paused", 4),  # 01:30 .. 02:15, recorded an hour later
    ]


def test_changing_the_cron_does_not_fire_the_new_crons_past_instants() -> None:
    sim = Simulation()
    sim.create(spec(cron="15 1 * * *"), "2024-01-01T00:00:00Z")
    sim.run(at("2024-01-01T00:00:00Z"), at("2024-01-02T01:20:00Z"))
    sim.update(spec(cron="15 2 * * *"), "2024-01-02T03:00:00Z")  # 02:15 today already passed
    sim.run(at("2024-01-02T03:00:01Z"), at("2024-01-03T03:00:00Z"))
    assert sim.triggered_instants() == [
        "2024-01-01T01:15:00+00:00",
        "2024-01-02T01:15:00+00:00",
        "2024-01-03T02:15:00+00:00",
    ]


def test_renaming_keeps_run_keys_and_fingerprints() -> None:
    now = at("2024-01-02T10:00:05Z")
    before = reconcile([definition(spec(name="a"))], {}, now, secret_for)
    after = reconcile([definition(spec(name="b"), version=2)], {}, now, secret_for)
    requests = [[d[1].data for d in decisions if len(d) == 2] for decisions in (before, after)]
    assert len(requests[0]) == 10
    assert requests[0] == requests[1]


@pytest.mark.parametrize(
    ("field", "value"), [("cron", "61 * * * *"), ("timezone", "Mars/Olympus"), ("cron", "nope")]
)
def test_an_invalid_definition_is_a_failed_tick_never_an_exception(field: str, value: str) -> None:
    broken = definition(spec(**{field: value}), version=3)
    now = at("2024-01-02T10:00:00Z")
    (decision,) = reconcile([broken], {}, now, secret_for)
    tick = ticked(decision)
    assert (tick.status, tick.reason) == ("failed", "invalid_definition")
    assert tick.tick_id == f"{SCHEDULE_ID}:invalid:v3"
    assert value in (tick.error or "")
    assert next_due(broken, ScheduleState(), now) is None
    # Evaluating again later proposes the same record, which the ledger deduplicates.
    (again,) = reconcile([broken], {}, now + timedelta(hours=1), secret_for)
    assert again[0].idempotency_key == decision[0].idempotency_key


def test_a_broken_partitions_definition_is_a_failed_tick() -> None:
    partitions = ScheduledPartitions(partitions_def={"type": "time_window", "cron_schedule": "x"})
    (decision,) = reconcile(
        [definition(spec(partitions=partitions))], {}, at("2024-01-02T10:00Z"), secret_for
    )
    assert ticked(decision).reason == "invalid_definition"


def test_one_broken_schedule_does_not_stop_the_others() -> None:
    good = definition(schedule_id="GOOD", created="2024-01-02T09:30:00Z")
    bad = definition(spec(cron="bad"), schedule_id="BAD")
    decisions = reconcile([bad, good], {}, at("2024-01-02T10:00:00Z"), secret_for)
    assert [ticked(d).status for d in decisions] == ["failed", "triggered"]


def test_manual_tick_has_its_own_ids_and_does_not_move_the_cursor() -> None:
    sim = Simulation()
    sim.create(spec(), "2024-01-01T00:00:00Z")
    definition_, _ = sim.current()
    now = at("2024-01-01T00:20:00.7Z")
    decision = manual_tick(definition_, now, SECRET)
    epoch = int(at("2024-01-01T00:20:00Z").timestamp())
    tick = ticked(decision)
    assert tick.tick_id == f"{SCHEDULE_ID}:manual:{epoch}"
    assert tick.manual
    assert decision[1].data.run_key == f"sched:{SCHEDULE_ID}:manual:{epoch}"  # type: ignore[union-attr]
    sim.fold(decision)
    sim.run(at("2024-01-01T00:20:01Z"), at("2024-01-01T01:00:00Z"))
    assert sim.triggered_instants() == ["2024-01-01T01:00:00+00:00"]
    assert len(sim.runs()) == 2


# --- partitions ----------------------------------------------------------------------

DAILY = DailyPartitionsDefinition(start_date="2024-01-01")


@pytest.mark.parametrize(
    ("offset", "instant", "key"),
    [
        (-1, "2024-01-05T00:00:00Z", "2024-01-04"),  # Dagster's default: the day that just ended
        (-1, "2024-01-05T13:00:00Z", "2024-01-04"),
        (0, "2024-01-05T13:00:00Z", "2024-01-05"),
        (-2, "2024-01-05T00:00:00Z", "2024-01-03"),
    ],
)
def test_a_tick_targets_the_window_offset_from_its_scheduled_instant(
    offset: int, instant: str, key: str
) -> None:
    scheduled = ScheduledPartitions(partitions_def=dict(DAILY.to_dict()), offset=offset)
    assert scheduled_partition_selection(scheduled, at(instant)) == KeysSelector(keys=(key,))


def test_static_dimensions_are_targeted_whole() -> None:
    static = StaticPartitionsDefinition(["eu", "us"])
    multi = MultiPartitionsDefinition({"date": DAILY, "region": static})
    at_5th = at("2024-01-05T00:00:00Z")
    assert scheduled_partition_selection(
        ScheduledPartitions(partitions_def=dict(multi.to_dict())), at_5th
    ) == KeysSelector(keys=("2024-01-04|eu", "2024-01-04|us"))
    assert scheduled_partition_selection(
        ScheduledPartitions(partitions_def=dict(static.to_dict())), at_5th
    ) == KeysSelector(keys=("eu", "us"))


def test_a_tick_before_the_first_partition_is_skipped_with_a_reason() -> None:
    scheduled = ScheduledPartitions(partitions_def=dict(DAILY.to_dict()))
    daily = definition(spec(cron="0 0 * * *", partitions=scheduled), created="2023-12-31T12:00Z")
    first, second = reconcile([daily], {}, at("2024-01-02T00:00:00Z"), secret_for)
    assert (ticked(first).status, ticked(first).reason) == ("skipped", "no_partition")
    assert "2024-01-01" in (ticked(first).error or "")
    assert len(first) == 1
    assert ticked(second).snapshot.partition_selection == KeysSelector(keys=("2024-01-01",))  # type: ignore[union-attr]


# --- L2-INV-11 ------------------------------------------------------------------------


def test_l2_inv_11_the_run_is_built_from_the_ticks_snapshot_not_todays_definition() -> None:
    scheduled = ScheduledPartitions(partitions_def=dict(DAILY.to_dict()))
    old = definition(spec(cron="0 0 * * *", partitions=scheduled, tags={"team": "a"}))
    (decision,) = reconcile([old], {}, at("2024-01-02T00:00:00Z"), secret_for)
    tick = ticked(decision)
    assert tick.snapshot == TickSnapshot(
        definition_version=1,
        asset_selection=("raw",),
        partition_selection=KeysSelector(keys=("2024-01-01",)),
        tags={"team": "a"},
    )
    # Rebuilding the request later, after the definition changed, still gives the same run.
    assert run_requested_for_tick(TENANT, WORKSPACE, tick, SECRET) == decision[1].data
    today = definition(spec(asset_selection=("other",), tags={"team": "b"}), version=2)
    assert tick.snapshot is not None
    assert today.spec.asset_selection != tick.snapshot.asset_selection
    assert decision[1].data.asset_selection == ("raw",)


def test_l2_inv_11_a_catch_up_tick_snapshots_the_definition_that_decided_it() -> None:
    sim = Simulation()
    sim.create(spec(), "2024-01-01T00:00:00Z")
    sim.step(at("2024-01-01T01:00:00Z"))
    sim.update(spec(asset_selection=("raw", "clean")), "2024-01-01T01:30:00Z")
    sim.step(at("2024-01-01T02:00:00Z"))
    snapshots = [TickSnapshot.model_validate(t["snapshot"]) for t in sim.ticks("triggered")]
    assert [(s.definition_version, s.asset_selection) for s in snapshots] == [
        (1, ("raw",)),
        (2, ("raw", "clean")),
    ]
    runs = sorted(sim.runs().values(), key=lambda r: str(r["run_key"]))
    assert [r["asset_selection"] for r in runs] == [["raw"], ["raw", "clean"]]


# --- every instant is accounted for exactly once ------------------------------------------


@settings(max_examples=80, deadline=None)
@given(
    cron=st.sampled_from(["*/5 * * * *", "17 * * * *", "0 */3 * * *", "30 2 * * *"]),
    tz=st.sampled_from(["UTC", "America/New_York", "Australia/Lord_Howe"]),
    gaps=st.lists(st.integers(1, 600), min_size=1, max_size=25),
    window=st.integers(0, 240),
    limit=st.integers(1, 6),
)
def test_every_instant_is_triggered_or_in_exactly_one_skip_record(
    cron: str, tz: str, gaps: list[int], window: int, limit: int
) -> None:
    created = "2024-03-09T00:00:00Z"  # passes run across New York's spring forward
    sim = Simulation()
    sim.create(
        spec(cron=cron, timezone=tz, catchup_window_minutes=window, max_catchup_ticks=limit),
        created,
    )
    now = at(created)
    for gap in gaps:
        now += timedelta(minutes=gap)
        sim.step(now)
    schedule = CronSchedule(cron, tz)
    instants = [int(i.timestamp()) for i in schedule.iter_between(at(created), now)]
    covered: list[int] = []
    for tick in sim.ticks():
        first = int(str(tick["scheduled_epoch"]))
        if tick["status"] == "triggered":
            covered.append(first)
        else:
            last = int(str(tick["skipped_through_epoch"]))
            inside = [i for i in instants if first <= i <= last]
            assert len(inside) == tick["skipped_count"]
            covered += inside
    assert sorted(covered) == instants
    assert len(sim.runs()) == len(sim.ticks("triggered"))


@pytest.mark.parametrize(
    ("field", "value"), [("max_catchup_ticks", 10_001), ("catchup_window_minutes", 527_041)]
)
def test_catch_up_is_bounded_so_one_pass_stays_small(field: str, value: int) -> None:
    # Unbounded, a year-old minutely schedule once planned 575,995 ticks in one pass.
    with pytest.raises(PydanticValidationError) as raised:
        spec(**{field: value})
    assert raised.value.errors()[0]["loc"] == (field,)
    with pytest.raises(InvalidDefinitionError) as sdk:
        ScheduleDefinition(cron_schedule="* * * * *", target=["raw"], **{field: value})
    assert sdk.value.field == field
