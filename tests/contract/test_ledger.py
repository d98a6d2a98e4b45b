"""The Ledger contract, run on every backend (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Connection, Engine, func, select

from arco.clock import ManualClock
from arco.errors import StorageError
from arco.events import OrchestrationEvent
from arco.ledger import Appended, Duplicate, SqlLedger, ledger_for
from arco.storage.schema import events, idempotency_keys
from support.factories import T0, envelope, run_requested


def batch(*keys: str, tenant: str = "acme", seconds: int = 0) -> list[OrchestrationEvent]:
    return [envelope(run_requested(k, tenant=tenant), tenant=tenant, seconds=seconds) for k in keys]


def test_append_returns_offsets_in_order_and_read_returns_them(ledger: SqlLedger) -> None:
    outcomes = ledger.append(batch("a", "b", "c"))
    assert [o.offset for o in outcomes] == [1, 2, 3]
    assert all(isinstance(o, Appended) for o in outcomes)
    read = ledger.read(after_offset=0, limit=10)
    assert [e.offset for e in read] == [1, 2, 3]
    assert [e.data.run_key for e in read] == ["a", "b", "c"]  # type: ignore[union-attr]
    assert ledger.head() == 3


def test_read_after_offset_and_limit(ledger: SqlLedger) -> None:
    ledger.append(batch(*"abcdef"))
    assert [e.offset for e in ledger.read(after_offset=2, limit=3)] == [3, 4, 5]
    assert ledger.read(after_offset=6) == []


def test_duplicate_key_is_dropped_and_points_at_the_original(ledger: SqlLedger) -> None:
    ledger.append(batch("a", "b"))
    outcomes = ledger.append(batch("b", "c", seconds=30))
    assert outcomes[0] == Duplicate(outcomes[0].event_id, 2)
    assert outcomes[1] == Appended(outcomes[1].event_id, 3)
    assert ledger.head() == 3


def test_duplicate_inside_one_batch_is_dropped(ledger: SqlLedger) -> None:
    outcomes = ledger.append([*batch("a"), *batch("a", seconds=1)])
    assert outcomes[0].duplicate is False
    assert outcomes[1].duplicate is True
    assert outcomes[1].offset == outcomes[0].offset
    assert ledger.head() == 1


def test_dedup_is_scoped_by_tenant_and_workspace(ledger: SqlLedger) -> None:
    ledger.append(batch("a", tenant="acme"))
    outcomes = ledger.append(batch("a", tenant="globex"))
    assert outcomes[0].duplicate is False
    assert [e.tenant_id for e in ledger.read(tenant_id="globex")] == ["globex"]


def test_key_expires_after_ttl_and_is_pruned(engine: Engine) -> None:
    clock = ManualClock(T0)
    ledger = ledger_for(engine, clock=clock, dedup_ttl=timedelta(days=7))
    ledger.append(batch("a"))
    clock.advance(timedelta(days=6))
    assert ledger.append(batch("a", seconds=1))[0].duplicate is True
    clock.advance(timedelta(days=2))
    assert ledger.append(batch("a", seconds=2))[0].duplicate is False  # appended again
    assert ledger.head() == 2
    clock.advance(timedelta(days=8))
    assert ledger.prune_expired_keys() == 1
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(idempotency_keys)).scalar() == 0


def test_same_event_redelivered_after_expiry_is_still_a_duplicate(engine: Engine) -> None:
    clock = ManualClock(T0)
    ledger = ledger_for(engine, clock=clock, dedup_ttl=timedelta(days=1))
    event = batch("a")
    ledger.append(event)
    clock.advance(timedelta(days=3))
    ledger.prune_expired_keys()
    assert ledger.append(event)[0] == Duplicate(event[0].event_id, 1)


class _FailsAfterInsert(SqlLedger):
    def _store_keys(self, connection: Connection, key_rows: list[dict[str, object]]) -> None:
        raise RuntimeError("power cut between the event rows and the key rows")


def test_append_is_atomic(engine: Engine, ledger: SqlLedger) -> None:
    ledger.append(batch("a"))
    broken = _FailsAfterInsert(engine)
    with pytest.raises(RuntimeError):
        broken.append(batch("b", "c"))
    assert ledger.head() == 1
    assert ledger.append(batch("b", "c"))[0].offset == 2


def test_driver_errors_are_translated_at_the_edge(engine: Engine) -> None:
    engine.dispose()
    ledger = ledger_for(engine)
    with engine.begin() as connection:
        connection.execute(events.delete())
    event = batch("a")[0]
    bad = event.model_copy(update={"event_id": "x" * 40})  # longer than the column allows
    if engine.dialect.name == "sqlite":  # SQLite does not enforce VARCHAR lengths
        assert ledger.append([bad])[0].offset == 1
    else:
        with pytest.raises(StorageError):
            ledger.append([bad])


def test_find_by_key(ledger: SqlLedger) -> None:
    event = batch("a")[0]
    ledger.append([event])
    found = ledger.find_by_key("acme", "prod", event.idempotency_key)
    assert found is not None
    assert found.event_id == event.event_id
    assert ledger.find_by_key("acme", "prod", "nope") is None


def test_keys_with_nul_and_the_escape_character_dedup_exactly(ledger: SqlLedger) -> None:
    # PostgreSQL stores these keys escaped; dedup must still see the same key, and only it.
    keys = ["k\x00", "k\U0010fffe0", "k\U0010fffe", "k"]
    first = ledger.append(batch(*keys))
    assert [o.duplicate for o in first] == [False] * 4
    again = ledger.append(batch(*keys, seconds=30))
    assert [o.offset for o in again] == [o.offset for o in first]
    assert all(o.duplicate for o in again)
    assert [e.data.run_key for e in ledger.read()] == keys  # type: ignore[union-attr]
    event = batch("k\x00")[0]
    found = ledger.find_by_key("acme", "prod", event.idempotency_key)
    assert found is not None
    assert found.data.run_key == "k\x00"  # type: ignore[union-attr]
