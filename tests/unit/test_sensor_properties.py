"""Property tests of the sensor fold: delivery order, redelivery, and the cursor CAS."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from arco.controllers.sensors import Outcome, Request, decide_poll
from arco.events import SensorCursorReset, SensorEvaluated
from arco.fold.runs import STALE_EVAL_STATUS
from support.factories import SECRET, T0, envelope
from support.sensors import (
    BOTH,
    POLL_ID,
    Batch,
    Folded,
    created,
    messages,
    poll_batch,
    poll_chain,
    push_batches,
    sensors_created,
    steps,
    view,
)


@given(sent=messages, data=st.data())
def test_l2_inv_2_shuffled_and_duplicated_push_delivery_gives_one_projection(
    sent: dict[str, list[str | None]], data: st.DataObject
) -> None:
    batches = push_batches(sent)
    reference = Folded(*sensors_created(*BOTH))
    for batch in batches:
        reference.add(batch)
    deliveries = data.draw(st.permutations(batches + data.draw(st.lists(st.sampled_from(batches)))))
    shuffled = Folded(*sensors_created(*BOTH))
    for batch in deliveries:
        shuffled.add(batch)
    assert shuffled.rows.digest() == reference.rows.digest()
    assert len(shuffled.evals()) == len(sent)


@given(steps=steps, data=st.data())
def test_l2_inv_3_redelivered_poll_evaluations_give_one_projection(
    steps: list[tuple[int, int]], data: st.DataObject
) -> None:
    batches = poll_chain(steps)
    reference = Folded(envelope(created()))
    for batch in batches:
        reference.add(batch)
    redelivered = Folded(envelope(created()))
    for index, batch in enumerate(batches):
        redelivered.add(batch)
        for _ in range(data.draw(st.integers(0, 2))):
            redelivered.add(batches[data.draw(st.integers(0, index))])
    assert redelivered.rows.digest() == reference.rows.digest()
    state = redelivered.state()
    assert (state["cursor"], state["state_version"]) == (f"c{len(steps)}", len(steps))
    assert not any(key.startswith("lost-") for key in redelivered.run_keys())


@given(outcomes=st.lists(st.integers(0, 3), min_size=2, max_size=6), data=st.data())
def test_l2_inv_12_concurrent_evaluations_from_one_state_exactly_one_wins(
    outcomes: list[int], data: st.DataObject
) -> None:
    batches = [
        poll_batch(
            "c5", 0, [f"e{i}-{k}" for k in range(n)], f"after-{i}", T0 + timedelta(seconds=i)
        )
        for i, n in enumerate(outcomes)
    ]
    batches = data.draw(st.permutations(batches))
    folded = Folded(envelope(created()))
    for batch in batches:
        folded.add(batch)
    winner, *losers = (_evaluation(b) for b in batches)
    rows = folded.evals()
    assert rows[winner.eval_id]["status"] in ("ok", "skipped")
    assert all(rows[loser.eval_id]["status"] == STALE_EVAL_STATUS for loser in losers)
    assert all(rows[loser.eval_id]["run_ids"] == [] for loser in losers)
    assert folded.run_keys() == set(winner.run_keys)
    state = folded.state()
    assert (state["cursor"], state["state_version"]) == (winner.cursor_after, 1)


def _evaluation(batch: Batch) -> SensorEvaluated:
    data = batch[0].data
    assert isinstance(data, SensorEvaluated)
    return data


class CursorCas(RuleBasedStateMachine):
    """Evaluations start from whatever state the projection shows and land later.

    The model: an evaluation is accepted iff no accepted evaluation or reset landed
    since the state it started from; only accepted evaluations create runs.
    """

    @initialize()
    def setup(self) -> None:
        self.folded = Folded(envelope(created()))
        self.clock = 0
        self.definition_version = 1
        self.in_flight: list[tuple[str | None, int, int]] = []  # cursor, version, epoch
        self.landed: list[Batch] = []
        self.model_cursor: str | None = None
        self.model_version = 0
        self.model_runs: set[str] = set()

    def _tick(self) -> int:
        self.clock += 1
        return self.clock

    @rule()
    def start_evaluation(self) -> None:
        state = self.folded.state()
        cursor = state["cursor"]
        assert cursor is None or isinstance(cursor, str)
        self.in_flight.append((cursor, int(str(state["state_version"])), self._tick()))

    @precondition(lambda self: self.in_flight)
    @rule(data=st.data(), keys=st.integers(0, 2), fails=st.booleans())
    def land_evaluation(self, data: st.DataObject, keys: int, fails: bool) -> None:
        cursor, version, epoch = self.in_flight.pop(
            data.draw(st.integers(0, len(self.in_flight) - 1))
        )
        at = T0 + timedelta(seconds=epoch)
        outcome = (
            Outcome.failed("boom")
            if fails
            else Outcome(
                requests=tuple(Request(f"r{epoch}-{k}") for k in range(keys)),
                cursor_after=f"cur{epoch}",
            )
        )
        batch = decide_poll(view(cursor=cursor, version=version), at, outcome, SECRET)
        self.folded.add(batch)
        self.landed.append(batch)
        if not fails and version == self.model_version:
            self.model_cursor, self.model_version = f"cur{epoch}", version + 1
            self.model_runs |= {f"r{epoch}-{k}" for k in range(keys)}

    @rule(cursor=st.none() | st.sampled_from(["x", "y"]))
    def reset_cursor(self, cursor: str | None) -> None:
        self.definition_version += 1
        reset = SensorCursorReset(
            sensor_id=POLL_ID, definition_version=self.definition_version, cursor=cursor
        )
        self.folded.add([envelope(reset, seconds=self._tick())])
        self.model_cursor, self.model_version = cursor, self.model_version + 1

    @precondition(lambda self: self.landed)
    @rule(data=st.data())
    def redeliver(self, data: st.DataObject) -> None:
        before = self.folded.rows.digest()
        self.folded.add(data.draw(st.sampled_from(self.landed)))
        assert self.folded.rows.digest() == before

    @invariant()
    def projection_matches_the_model(self) -> None:
        state = self.folded.state()
        assert (state["cursor"], state["state_version"]) == (self.model_cursor, self.model_version)
        assert self.folded.run_keys() == self.model_runs
        for row in self.folded.evals().values():
            if row["status"] == STALE_EVAL_STATUS:
                assert row["run_ids"] == []


CursorCas.TestCase.settings = settings(max_examples=60, stateful_step_count=30, deadline=None)
test_cursor_cas_state_machine = CursorCas.TestCase
