"""A stateful property test of the backfill lifecycle.

Random controller passes (sometimes two controllers on one snapshot), chunk
outcomes, operator pause/resume/cancel requests (sometimes stale, sometimes
repeated) and redeliveries past the ledger's dedup window.  After every step:
only legal transitions happened, one version at a time; counters add up; the
concurrency cap holds; no partition was ever requested twice.
"""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import HealthCheck, settings
from hypothesis import event as note_event
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from arco.controllers.backfill_states import (
    ACTION_TARGETS,
    TERMINAL_STATES,
    TRANSITIONS,
    is_legal,
)
from arco.controllers.backfills import request_transition
from arco.errors import ArcoError, IllegalTransitionError, VersionConflictError
from arco.events import (
    BackfillState,
    OrchestrationEvent,
    RangeSelector,
    RunRequested,
    StoredEvent,
)
from arco.fold.apply import apply_event
from arco.partitions import DailyPartitionsDefinition
from support.backfills import BackfillWorld, chunk_keys

DAILY = DailyPartitionsDefinition(start_date="2024-01-01", end_date="2024-03-01")
LATER = datetime(2024, 6, 1, tzinfo=UTC)
S = BackfillState


class BackfillLifecycle(RuleBasedStateMachine):
    @initialize(
        partitions=st.integers(1, 40),
        chunk_size=st.integers(1, 6),
        cap=st.integers(1, 4),
    )
    def create(self, partitions: int, chunk_size: int, cap: int) -> None:
        self.world = BackfillWorld(LATER)
        end = DAILY.key_at(partitions - 1)
        self.world.create(
            DAILY,
            RangeSelector(start="2024-01-01", end=end),
            chunk_size=chunk_size,
            max_concurrent_runs=cap,
        )
        self.partitions, self.cap = partitions, cap
        self.history = [(S.PENDING, 0)]

    # --- actions ------------------------------------------------------------------

    @rule(twice=st.booleans())
    def controller_pass(self, twice: bool) -> None:
        decisions = self.world.decide("B1")
        if self.world.view("B1").state == S.PAUSED:
            assert decisions == []
        echo = self.world.decide("B1") if twice else []
        for batch in [*decisions, *echo]:
            self._append(batch)

    @rule(data=st.data(), outcome=st.sampled_from(["succeeded", "failed", "cancelled"]))
    def chunk_finishes(self, data: st.DataObject, outcome: str) -> None:
        active = self.world.progress("B1").active
        if active:
            chunk = data.draw(st.sampled_from(active))
            self.world.finish_chunk("B1", chunk.chunk_index, outcome)

    @rule(
        action=st.sampled_from(["pause", "resume", "cancel"]),
        stale=st.booleans(),
        repeat=st.booleans(),
    )
    def operator(self, action: str, stale: bool, repeat: bool) -> None:
        view = self.world.view("B1")
        expected = view.state_version - (1 if stale else 0)
        by_operator = TRANSITIONS.get((view.state, ACTION_TARGETS[action])) == "operator"  # type: ignore[index]
        error: ArcoError | None = None
        try:
            event = request_transition(view, action, expected, self.world.tick())  # type: ignore[arg-type]
        except (VersionConflictError, IllegalTransitionError) as raised:
            event, error = None, raised
        if isinstance(error, VersionConflictError):
            assert stale
            assert error.details["current_state_version"] == view.state_version
            return
        if isinstance(error, IllegalTransitionError):
            assert not by_operator
            assert error.details["current_state"] == view.state.value
            return
        if event is None:
            assert stale  # only a repeat of the change that made the current version
            return
        assert not stale
        self._append([event])
        if repeat:
            assert self.world.append([event]) == [True]

    @rule(data=st.data())
    def redelivery_after_dedup_expired(self, data: st.DataObject) -> None:
        if not self.world.appended:
            return
        event = data.draw(st.sampled_from(self.world.appended))
        before = self.world.rows.digest()
        apply_event(self.world.rows, StoredEvent.of(event, len(self.world.appended) + 1))
        assert self.world.rows.digest() == before

    def _append(self, batch: list[OrchestrationEvent]) -> None:
        for event in batch:
            self.world.append([event])
            view = self.world.view("B1")
            if (view.state, view.state_version) != self.history[-1]:
                self.history.append((view.state, view.state_version))

    # --- invariants ---------------------------------------------------------------

    @invariant()
    def only_legal_transitions_one_version_at_a_time(self) -> None:
        for (before, version), (after, next_version) in zip(
            self.history, self.history[1:], strict=False
        ):
            assert next_version == version + 1
            assert is_legal(before, after), f"{before} -> {after}"

    @invariant()
    def counters_add_up(self) -> None:
        doc = self.world.doc("B1")
        chunks = self.world.chunks("B1")
        progress = self.world.progress("B1")
        assert doc["chunks_planned"] == len(chunks) == progress.planned
        assert doc["partitions_planned"] == sum(len(chunk_keys(c)) for c in chunks)
        assert progress.planned <= int(str(doc["total_chunks"]))
        assert int(str(doc["partitions_planned"])) <= self.partitions
        assert len(progress.active) <= self.cap

    @invariant()
    def no_partition_is_requested_twice(self) -> None:
        requested: list[str] = []
        for event in self.world.appended:
            if isinstance(event.data, RunRequested) and event.data.partition_selection:
                requested += list(event.data.partition_selection.keys)  # type: ignore[union-attr]
        assert len(requested) == len(set(requested))

    @invariant()
    def terminal_states_mean_what_they_say(self) -> None:
        view = self.world.view("B1")
        progress = self.world.progress("B1")
        if view.state in TERMINAL_STATES:
            assert progress.active == ()
        if view.state == S.SUCCEEDED:
            assert progress.succeeded == view.total_chunks
        if view.state == S.FAILED:
            assert progress.terminal == view.total_chunks
            assert progress.failed + progress.cancelled > 0

    def teardown(self) -> None:
        if hasattr(self, "world"):
            note_event(f"ended {self.world.view('B1').state.value}")


BackfillLifecycle.TestCase.settings = settings(
    max_examples=150,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestBackfillLifecycle = BackfillLifecycle.TestCase
