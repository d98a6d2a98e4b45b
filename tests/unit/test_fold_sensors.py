"""The pure sensor fold: definitions, cursor CAS, evaluation history, idempotency."""

from __future__ import annotations

from datetime import timedelta

from arco.events import (
    OrchestrationEvent,
    SensorCursorReset,
    SensorEvaluated,
    SensorPaused,
    SensorResumed,
    SensorUpdated,
)
from arco.fold.runs import STALE_EVAL_STATUS
from support.factories import T0, envelope
from support.sensors import (
    BOTH,
    POLL_ID,
    PUSH_ID,
    Folded,
    created,
    poll_batch,
    push_batch,
    sensors_created,
    spec,
)


def evaluation_of(batch: list[OrchestrationEvent]) -> SensorEvaluated:
    data = batch[0].data
    assert isinstance(data, SensorEvaluated)
    return data


def test_created_sensor_has_a_definition_and_an_empty_state() -> None:
    folded = Folded(envelope(created()))
    definition = folded.table("sensor_definitions")[POLL_ID]
    assert definition["name"] == "poll_sensor"
    assert definition["kind"] == "poll"
    assert definition["enabled"] is True
    assert definition["definition_version"] == 1
    assert definition["minimum_interval_seconds"] == 30
    state = folded.state()
    assert state["cursor"] is None
    assert state["state_version"] == 0
    assert state["status"] == "running"
    assert state["last_evaluated_at"] is None


def test_definition_events_apply_in_version_order_and_only_once() -> None:
    update = envelope(
        SensorUpdated(sensor_id=POLL_ID, definition_version=2, spec=spec(name="renamed")),
        seconds=1,
    )
    pause = envelope(
        SensorPaused(sensor_id=POLL_ID, definition_version=3, changed_by="ann"), seconds=2
    )
    folded = Folded(envelope(created()), update, pause)
    definition = folded.table("sensor_definitions")[POLL_ID]
    assert (definition["name"], definition["enabled"], definition["definition_version"]) == (
        "renamed",
        False,
        3,
    )
    assert folded.state()["status"] == "paused"
    before = folded.rows.digest()
    folded.add([update, pause, envelope(created(), seconds=9)])  # redelivered, older
    assert folded.rows.digest() == before
    folded.add([envelope(SensorResumed(sensor_id=POLL_ID, definition_version=4), seconds=3)])
    assert folded.table("sensor_definitions")[POLL_ID]["enabled"] is True
    assert folded.state()["status"] == "running"


def test_accepted_poll_evaluation_moves_cursor_bumps_version_and_creates_runs() -> None:
    batch = poll_batch(None, 0, ["file-1", "file-2"], "c1")
    folded = Folded(envelope(created()), *batch)
    state = folded.state()
    assert (state["cursor"], state["state_version"]) == ("c1", 1)
    assert state["last_evaluated_at"] == "2024-01-01T00:00:00.000000Z"
    row = folded.evals()[evaluation_of(batch).eval_id]
    assert row["status"] == "ok"
    assert row["run_keys"] == ["file-1", "file-2"]
    assert folded.run_keys() == {"file-1", "file-2"}
    assert set(row["run_ids"]) == set(folded.table("runs"))  # type: ignore[call-overload]


def test_l2_inv_12_stale_expected_state_version_is_dropped_with_its_run_requests() -> None:
    winner = poll_batch(None, 0, ["a"], "c1", at=T0)
    loser = poll_batch(None, 0, ["b"], "c-other", at=T0 + timedelta(seconds=1))
    folded = Folded(envelope(created()), *winner, *loser)
    state = folded.state()
    assert (state["cursor"], state["state_version"]) == ("c1", 1)
    row = folded.evals()[evaluation_of(loser).eval_id]
    assert row["status"] == STALE_EVAL_STATUS
    assert row["run_ids"] == []
    assert folded.run_keys() == {"a"}


def test_l2_inv_3_same_poll_cursor_before_and_epoch_is_a_no_op() -> None:
    folded = Folded(envelope(created()))
    folded.add([envelope(SensorCursorReset(sensor_id=POLL_ID, definition_version=2, cursor="c0"))])
    batch = poll_batch("c0", 1, ["a"], "c1")
    folded.add(batch)
    before = dict(folded.rows.rows)
    folded.add(batch)  # the same evaluation again (e.g. redelivered past the dedup TTL)
    # Even a different outcome for the same cursor and epoch changes nothing.
    folded.add(poll_batch("c0", 1, ["zzz"], "c9"))
    assert folded.rows.rows == before
    assert folded.state()["state_version"] == 2


def test_l2_inv_2_same_push_message_id_is_a_no_op() -> None:
    first = push_batch("m-1")
    folded = Folded(envelope(created(PUSH_ID, "push")), *first)
    before = dict(folded.rows.rows)
    folded.add(push_batch("m-1", at=T0 + timedelta(hours=1)))
    folded.add(push_batch("m-1", keys=["other-key"], at=T0 + timedelta(hours=2)))
    assert folded.rows.rows == before
    assert folded.run_keys() == {f"sensor:{PUSH_ID}:msg:m-1"}


def test_push_evaluations_do_not_move_the_cursor() -> None:
    folded = Folded(envelope(created(PUSH_ID, "push")), *push_batch("m-1"), *push_batch("m-2"))
    state = folded.state(PUSH_ID)
    assert (state["cursor"], state["state_version"]) == (None, 0)
    assert len(folded.table("runs")) == 2


def test_an_error_evaluation_keeps_the_cursor_and_version() -> None:
    from arco.controllers.sensors import Outcome, decide_poll
    from support.factories import SECRET
    from support.sensors import view

    folded = Folded(envelope(created()), *poll_batch(None, 0, ["a"], "c1"))
    failed = decide_poll(
        view(cursor="c1", version=1), T0 + timedelta(minutes=1), Outcome.failed("boom"), SECRET
    )
    folded.add(failed)
    state = folded.state()
    assert (state["cursor"], state["state_version"]) == ("c1", 1)
    assert state["last_evaluated_at"] == "2024-01-01T00:01:00.000000Z"
    assert state["last_eval_status"] == "error"
    row = folded.evals()[evaluation_of(failed).eval_id]
    assert (row["status"], row["error"]) == ("error", "boom")


def test_reset_cursor_makes_in_flight_evaluations_stale_and_keeps_old_run_keys() -> None:
    folded = Folded(envelope(created()), *poll_batch(None, 0, ["k1"], "c1"))
    in_flight = poll_batch("c1", 1, ["k2"], "c2", at=T0 + timedelta(seconds=30))
    reset = SensorCursorReset(sensor_id=POLL_ID, definition_version=2, cursor=None)
    folded.add([envelope(reset, seconds=31), *in_flight])
    state = folded.state()
    assert (state["cursor"], state["state_version"]) == (None, 2)
    assert folded.evals()[evaluation_of(in_flight).eval_id]["status"] == STALE_EVAL_STATUS
    assert folded.run_keys() == {"k1"}
    run_ids = set(folded.table("runs"))
    # From the reset cursor the sensor re-emits k1: the old run stands, nothing new.
    again = poll_batch(None, 2, ["k1"], "c1", at=T0 + timedelta(minutes=2))
    folded.add(again)
    assert set(folded.table("runs")) == run_ids
    assert folded.state()["state_version"] == 3
    folded.add([envelope(reset, seconds=99)])  # the reset redelivered: no-op
    assert folded.state()["state_version"] == 3


def test_a_run_request_dropped_at_append_still_runs_when_its_evaluation_is_accepted() -> None:
    # A stale evaluation carried RunRequested(k2) first; when the accepted evaluation
    # later asks for k2 with the same fingerprint, the ledger drops its RunRequested as a
    # duplicate.  The run must come from the accepted SensorEvaluated itself.
    winner = poll_batch("c0", 0, ["k1"], "c1", at=T0)
    loser = poll_batch("c0", 0, ["k1", "k2"], "c2", at=T0 + timedelta(seconds=1))
    later = poll_batch("c1", 1, ["k2"], "c2", at=T0 + timedelta(seconds=30))
    folded = Folded(envelope(created()), *winner, *loser)
    assert folded.run_keys() == {"k1"}
    folded.add(later[:1])  # only the evaluation: its RunRequested(k2) was a duplicate
    assert folded.run_keys() == {"k1", "k2"}
    assert folded.table("run_key_conflicts") == {}


def test_evaluation_of_an_unknown_sensor_creates_nothing_and_warns() -> None:
    folded = Folded(*push_batch("m-1"))
    assert folded.table("runs") == {}
    assert any("unknown sensor" in w for w in folded.warnings)


def test_state_remembers_the_latest_evaluation_whatever_the_arrival_order() -> None:
    early, late = push_batch("m-1", at=T0), push_batch("m-2", at=T0 + timedelta(seconds=5))
    one = Folded(*sensors_created(*BOTH), *early, *late)
    other = Folded(*sensors_created(*BOTH), *late, *early)
    assert one.state(PUSH_ID) == other.state(PUSH_ID)
    assert one.state(PUSH_ID)["last_eval_id"] == f"{PUSH_ID}:msg:m-2"
    assert one.rows.digest() == other.rows.digest()
