"""Sensor batches through a real ledger and compactor: delivery order and redelivery.

Push evaluations are independent of each other, so any order gives the same
projection; poll evaluations keep their ledger order (the cursor CAS depends on
it), and redelivering any earlier batch at any point changes nothing.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from arco.compactor import Compactor
from arco.fold.rows import combined_digest
from arco.ledger import ledger_for
from support.reset import reset_database
from support.sensors import (
    BOTH,
    Batch,
    Folded,
    messages,
    poll_chain,
    push_batches,
    sensors_created,
    steps,
)


def interleave(poll: list[Batch], push: list[Batch], data: st.DataObject) -> list[Batch]:
    """Poll batches in order, push batches shuffled among them, earlier ones redelivered."""
    pending_push = data.draw(st.permutations(push))
    schedule: list[Batch] = []
    queue = list(poll)
    while queue or pending_push:
        take_poll = bool(queue) and (not pending_push or data.draw(st.booleans()))
        schedule.append(queue.pop(0) if take_poll else pending_push.pop())
        for _ in range(data.draw(st.integers(0, 1))):
            schedule.append(schedule[data.draw(st.integers(0, len(schedule) - 1))])
    return schedule


@settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(sent=messages, chain=steps, data=st.data())
def test_l2_inv_2_and_3_delivery_order_and_redelivery_give_one_projection(
    engine: Engine,
    sent: dict[str, list[str | None]],
    chain: list[tuple[int, int]],
    data: st.DataObject,
) -> None:
    reset_database(engine)
    ledger = ledger_for(engine)
    compactor = Compactor(ledger)
    created = sensors_created(*BOTH)
    poll, push = poll_chain(chain), push_batches(sent)
    ledger.append(created)
    for batch in interleave(poll, push, data):
        ledger.append(batch)
        if data.draw(st.booleans()):
            compactor.run_once(limit=data.draw(st.integers(1, 7)))
    compactor.catch_up()
    reference = Folded(*created)
    for batch in poll + push:
        reference.add(batch)
    _, live = compactor.digests()
    assert combined_digest(live) == reference.rows.digest()
