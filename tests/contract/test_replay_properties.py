"""Property tests: duplicated and re-delivered batches fold to one projection digest."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from arco.compactor import Compactor
from arco.events import OrchestrationEvent, StoredEvent
from arco.fold.apply import apply_event
from arco.fold.rows import MemoryRows, combined_digest
from arco.ledger import ledger_for
from support.factories import envelope, run_requested
from support.reset import reset_database

request = st.builds(
    lambda key, part, tenant, second: envelope(
        run_requested(f"k{key}", partition=f"p{part}", tenant=tenant), tenant=tenant, seconds=second
    ),
    st.integers(0, 5),
    st.integers(0, 2),
    st.sampled_from(["acme", "globex"]),
    st.integers(0, 3),
)
batches = st.lists(st.lists(request, min_size=1, max_size=6), min_size=1, max_size=8)


def deliveries(
    draw: st.DrawFn, original: list[list[OrchestrationEvent]]
) -> list[list[OrchestrationEvent]]:
    """The original batches in order, with earlier batches re-delivered at random points."""
    schedule: list[list[OrchestrationEvent]] = []
    for index, batch in enumerate(original):
        schedule.append(batch)
        for _ in range(draw(st.integers(0, 2))):
            schedule.append(original[draw(st.integers(0, index))])
    return schedule


def fold_once(original: list[list[OrchestrationEvent]]) -> MemoryRows:
    """The reference: every idempotency key folded once, at its first appearance."""
    rows, seen, offset = MemoryRows(), set(), 0
    for batch in original:
        for event in batch:
            key = (event.tenant_id, event.workspace_id, event.idempotency_key)
            if key not in seen:
                seen.add(key)
                offset += 1
                apply_event(rows, StoredEvent.of(event, offset))
    return rows


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(original=batches, data=st.data())
def test_duplicated_and_redelivered_batches_give_one_digest(
    engine: Engine, original: list[list[OrchestrationEvent]], data: st.DataObject
) -> None:
    reset_database(engine)
    ledger, compactor = ledger_for(engine), Compactor(ledger_for(engine))
    for batch in deliveries(data.draw, original):
        ledger.append(batch)
        if data.draw(st.booleans()):
            compactor.run_once(limit=data.draw(st.integers(1, 5)))
    compactor.catch_up()
    _, live = compactor.digests()
    assert combined_digest(live) == fold_once(original).digest()


@given(original=batches, data=st.data())
def test_fold_alone_is_idempotent_for_redeliveries_past_the_dedup_ttl(
    original: list[list[OrchestrationEvent]], data: st.DataObject
) -> None:
    rows = MemoryRows()
    offset = 0
    for batch in deliveries(data.draw, original):
        for event in batch:
            offset += 1
            apply_event(rows, StoredEvent.of(event, offset))
    assert rows.digest() == fold_once(original).digest()


@given(original=batches)
def test_replay_is_deterministic(original: list[list[OrchestrationEvent]]) -> None:
    assert fold_once(original).digest() == fold_once(original).digest()
