"""The compactor on every backend: fold, watermark, verify, rebuild."""

from __future__ import annotations

import json

from sqlalchemy import Engine, select, update

from arco.compactor import Compactor
from arco.ids import run_id_from_run_key
from arco.ledger import SqlLedger
from arco.storage.projections import table_digests
from arco.storage.schema import events, projections
from support.factories import SECRET, envelope, run_requested


def runs_of(engine: Engine) -> dict[str, dict[str, object]]:
    table = projections["runs"]
    with engine.connect() as connection:
        return {
            pk: json.loads(doc) for pk, doc in connection.execute(select(table.c.pk, table.c.doc))
        }


def test_l2_inv_4_same_key_same_fingerprint_same_run_id(
    ledger: SqlLedger, compactor: Compactor, engine: Engine
) -> None:
    ledger.append([envelope(run_requested("sched:S:1"))])
    compactor.catch_up()
    first = runs_of(engine)
    # A second request for the same run (other event id, same key and fingerprint).
    ledger.append([envelope(run_requested("sched:S:1"), seconds=10)])
    compactor.catch_up()
    assert runs_of(engine) == first
    assert list(first) == [run_id_from_run_key("acme", "prod", "sched:S:1", SECRET)]


def test_l2_inv_5_other_fingerprint_is_a_conflict(
    ledger: SqlLedger, compactor: Compactor, engine: Engine
) -> None:
    ledger.append([envelope(run_requested("k", partition="p1"))])
    ledger.append([envelope(run_requested("k", partition="p2"))])
    compactor.catch_up()
    assert len(runs_of(engine)) == 1
    table = projections["run_key_conflicts"]
    with engine.connect() as connection:
        conflicts = connection.execute(select(table.c.run_key)).scalars().all()
    assert conflicts == ["k"]


def test_l2_inv_9_run_id_in_projection_is_the_hmac_of_the_key(
    ledger: SqlLedger, compactor: Compactor, engine: Engine
) -> None:
    ledger.append([envelope(run_requested(f"k{i}")) for i in range(5)])
    compactor.catch_up()
    assert sorted(runs_of(engine)) == sorted(
        run_id_from_run_key("acme", "prod", f"k{i}", SECRET) for i in range(5)
    )


def test_watermark_advances_batch_by_batch(ledger: SqlLedger, compactor: Compactor) -> None:
    ledger.append([envelope(run_requested(f"k{i}")) for i in range(25)])
    assert compactor.run_once(limit=10).watermark == 10
    assert compactor.watermark() == 10
    assert compactor.lag() == 15
    assert compactor.catch_up(limit=10) == 15
    assert compactor.run_once().folded == 0


def test_verify_passes_then_catches_a_tampered_projection(
    ledger: SqlLedger, compactor: Compactor, engine: Engine
) -> None:
    ledger.append([envelope(run_requested(f"k{i}", partition="p")) for i in range(20)])
    ledger.append([envelope(run_requested("k1", partition="other"))])
    compactor.catch_up()
    result = compactor.verify()
    assert result.ok, result
    assert result.watermark == 21
    table = projections["runs"]
    with engine.begin() as connection:
        connection.execute(update(table).where(table.c.pk == runs_pk(engine)).values(doc="{}"))
    broken = compactor.verify()
    assert not broken.ok
    assert broken.differing_tables == ["runs"]


def runs_pk(engine: Engine) -> str:
    return sorted(runs_of(engine))[0]


def test_rebuild_reproduces_identical_projections(
    ledger: SqlLedger, compactor: Compactor, engine: Engine
) -> None:
    ledger.append([envelope(run_requested(f"k{i % 7}", partition=str(i % 3))) for i in range(40)])
    compactor.catch_up(limit=6)
    with engine.connect() as connection:
        before = table_digests(connection)
    assert compactor.rebuild(limit=11) == ledger.head() == 21  # (i % 7, i % 3) repeats after 21
    with engine.connect() as connection:
        assert table_digests(connection) == before


def test_unknown_event_types_stay_in_the_ledger_and_are_skipped(
    ledger: SqlLedger, compactor: Compactor, engine: Engine
) -> None:
    ledger.append([envelope(run_requested("k1"))])
    body = envelope(run_requested("k2")).model_dump(mode="json")
    body["event_type"], body["data"] = "FutureThing", {"type": "FutureThing", "x": 1}
    with engine.begin() as connection:
        connection.execute(
            events.insert().values(
                offset=2,
                event_id=body["event_id"],
                tenant_id="acme",
                workspace_id="prod",
                event_type="FutureThing",
                event_version=1,
                idempotency_key="future:1",
                timestamp=body["timestamp"],
                body=json.dumps(body),
            )
        )
    ledger.append([envelope(run_requested("k3"))])
    result = compactor.run_once()
    assert result.folded == 3
    assert result.unknown == 1
    assert len(runs_of(engine)) == 2
    assert [e.event_type for e in ledger.read()] == ["RunRequested", "FutureThing", "RunRequested"]


def test_two_compactors_take_turns(ledger: SqlLedger, engine: Engine) -> None:
    ledger.append([envelope(run_requested(f"k{i}")) for i in range(30)])
    one, two = Compactor(ledger), Compactor(ledger)
    folded = [one.run_once(limit=7).folded, two.run_once(limit=7).folded]
    folded += [one.catch_up(limit=7), two.catch_up(limit=7)]
    assert sum(folded) == 30
    assert len(runs_of(engine)) == 30
    assert one.verify().ok


def test_conflicts_are_counted_once_in_metrics(ledger: SqlLedger, compactor: Compactor) -> None:
    from arco import metrics

    before = metrics.RUN_KEY_CONFLICTS._value.get()
    ledger.append([envelope(run_requested("c", partition="p1"))])
    ledger.append([envelope(run_requested("c", partition="p2"))])
    ledger.append([envelope(run_requested("c", partition="p2"), seconds=5)])  # same conflict again
    compactor.catch_up()
    assert metrics.RUN_KEY_CONFLICTS._value.get() - before == 1
    assert compactor.verify().ok  # the scratch rebuild does not count it again
    assert metrics.RUN_KEY_CONFLICTS._value.get() - before == 1


def test_any_string_user_code_can_produce_folds_on_every_backend(
    ledger: SqlLedger, compactor: Compactor, engine: Engine
) -> None:
    # PostgreSQL text cannot hold NUL and a VARCHAR(n) rejects longer values; a run key
    # from user code can be either. One such event must not wedge the compactor.
    keys = ["nul\x00key", "long:" + "k" * 2_000, "ok"]
    ledger.append(
        [envelope(run_requested(key, partition=f"p\x00{i}")) for i, key in enumerate(keys)]
    )
    compactor.catch_up()
    assert sorted(runs_of(engine)) == sorted(
        run_id_from_run_key("acme", "prod", key, SECRET) for key in keys
    )
    table = projections["run_key_index"]
    with engine.connect() as connection:
        found = connection.execute(select(table.c.doc).where(table.c.pk == keys[0])).scalar_one()
    assert json.loads(found)["run_key"] == keys[0]
    assert compactor.verify().ok
