"""The schedule pass with the compactor on every backend, over simulated time."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timedelta

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import Engine, select

from arco.clock import ManualClock
from arco.compactor import Compactor
from arco.controllers.schedules import ScheduleDefinition, reconcile
from arco.cron import CronSchedule
from arco.events import OrchestrationEvent
from arco.events.schedules import ScheduleCreated
from arco.fold.rows import Doc, Scope
from arco.ids import run_id_from_run_key
from arco.ledger import SqlLedger, ledger_for
from arco.runtime.env import RuntimeEnv
from arco.runtime.schedule_pass import run_schedule_pass
from arco.secrets import TenantSecrets
from arco.services import ServiceContext
from arco.services.schedules import create_schedule, pause_schedule, update_schedule
from arco.storage.reader import ProjectionReader
from arco.storage.schema import projections
from support.factories import SECRET, TENANT, WORKSPACE
from support.schedules import at, spec

OTHER = Scope("globex", "dev")
SECRETS = TenantSecrets({TENANT: SECRET, OTHER.tenant_id: "other-secret"})


def make_env(ledger: SqlLedger, engine: Engine, secrets: TenantSecrets = SECRETS) -> RuntimeEnv:
    return RuntimeEnv(
        ledger=ledger,
        reader=ProjectionReader(engine),
        secrets=secrets,
        clock=ManualClock(at("2024-01-01T00:00:00Z")),
    )


def service(ledger: SqlLedger, engine: Engine, when: datetime, scope: Scope) -> ServiceContext:
    return ServiceContext(
        scope=scope,
        ledger=ledger,
        reader=ProjectionReader(engine),
        secrets=SECRETS,
        clock=ManualClock(when),
    )


def table(engine: Engine, name: str) -> dict[tuple[str, str], Doc]:
    sql = projections[name]
    with engine.connect() as connection:
        rows = connection.execute(select(sql.c.tenant_id, sql.c.pk, sql.c.doc)).all()
    return {(tenant, pk): json.loads(doc) for tenant, pk, doc in rows}


def triggered(engine: Engine) -> list[Doc]:
    return [t for t in table(engine, "schedule_ticks").values() if t["status"] == "triggered"]


def assert_one_run_per_tick(engine: Engine) -> None:
    """L2-INV-10 over everything in the database: tick -> run key -> run id -> run -> tick."""
    ticks = triggered(engine)
    runs = table(engine, "runs")
    index = table(engine, "run_key_index")
    assert len(runs) == len(ticks)
    assert table(engine, "run_key_conflicts") == {}
    for tick in ticks:
        tenant = next(t for (t, pk) in table(engine, "schedule_ticks") if pk == tick["tick_id"])
        secret = SECRETS.for_tenant(tenant)
        workspace = WORKSPACE if tenant == TENANT else OTHER.workspace_id
        run_id = run_id_from_run_key(tenant, workspace, str(tick["run_key"]), secret)
        assert tick["run_id"] == run_id
        assert index[(tenant, str(tick["run_key"]))]["run_id"] == run_id
        assert runs[(tenant, run_id)]["source"]["tick_id"] == tick["tick_id"]  # type: ignore[index]


def expected_instants(cron: str, tz: str, created: datetime, until: datetime) -> list[int]:
    return [int(t.timestamp()) for t in CronSchedule(cron, tz).iter_between(created, until)]


def test_pass_and_compactor_over_six_simulated_hours(
    ledger: SqlLedger, engine: Engine, compactor: Compactor
) -> None:
    start = at("2024-03-10T04:00:00Z")  # New York springs forward at 07:00Z
    crons = [
        ("*/5 * * * *", "UTC", Scope(TENANT, WORKSPACE)),
        ("30 * * * *", "America/New_York", Scope(TENANT, WORKSPACE)),
        ("30 2 * * *", "America/New_York", OTHER),  # the daily tick in the gap: 03:00 EDT
    ]
    ids = {}
    for cron, tz, scope in crons:
        ctx = service(ledger, engine, start, scope)
        ids[cron] = create_schedule(ctx, spec(cron=cron, timezone=tz)).resource_id
    compactor.catch_up()  # a pass sees only folded definitions
    env = make_env(ledger, engine)
    end = start + timedelta(hours=6)
    now, dues = start, []
    while now <= end:
        report = run_schedule_pass(env, now)
        assert report.errors == 0
        dues.append(report.next_due)
        compactor.catch_up()
        now += timedelta(minutes=1)
    ticks = triggered(engine)
    for cron, tz, _ in crons:
        mine = sorted(
            int(str(t["scheduled_epoch"])) for t in ticks if t["schedule_id"] == ids[cron]
        )
        assert mine == expected_instants(cron, tz, start, end), cron
    assert Counter(str(t["schedule_id"]) for t in ticks) == {
        ids["*/5 * * * *"]: 72,
        ids["30 * * * *"]: 6,  # 23:30 EST .. 05:30 EDT local, without the missing 02:30
        ids["30 2 * * *"]: 1,
    }
    assert_one_run_per_tick(engine)
    assert dues[0] == at("2024-03-10T04:05:00Z")  # the earliest next tick of any schedule
    assert compactor.verify().ok


def test_running_the_pass_twice_before_the_compactor_catches_up_is_harmless(
    ledger: SqlLedger, engine: Engine, compactor: Compactor
) -> None:
    created = at("2024-01-01T00:00:00Z")
    ctx = service(ledger, engine, created, Scope(TENANT, WORKSPACE))
    create_schedule(ctx, spec(cron="*/10 * * * *", max_catchup_ticks=50))
    compactor.catch_up()
    env = make_env(ledger, engine)
    first = run_schedule_pass(env, at("2024-01-01T02:00:00Z"))
    head = ledger.head()
    again = run_schedule_pass(env, at("2024-01-01T02:00:00Z"))
    later = run_schedule_pass(env, at("2024-01-01T02:00:30Z"))  # other event ids, same keys
    assert first.appended == 24  # 12 ticks, each with its run request
    assert (again.appended, again.duplicates) == (0, 24)
    assert (later.appended, later.duplicates) == (0, 24)
    assert ledger.head() == head
    compactor.catch_up()
    assert len(triggered(engine)) == 12
    assert_one_run_per_tick(engine)
    assert run_schedule_pass(env, at("2024-01-01T02:05:00Z")).decisions == 0


def test_two_runners_with_a_lagging_compactor_make_one_run_per_tick(
    ledger: SqlLedger, engine: Engine, compactor: Compactor
) -> None:
    start = at("2024-01-01T00:00:00Z")
    ctx = service(ledger, engine, start, Scope(TENANT, WORKSPACE))
    create_schedule(ctx, spec(cron="* * * * *", max_catchup_ticks=1000))
    compactor.catch_up()
    one, two = make_env(ledger, engine), make_env(ledger, engine)
    for minute in range(1, 91):
        now = start + timedelta(minutes=minute, seconds=1)
        run_schedule_pass(one, now)
        run_schedule_pass(two, now + timedelta(seconds=20))
        if minute % 13 == 0:  # the compactor falls behind, then catches up
            compactor.catch_up()
    compactor.catch_up()
    assert len(triggered(engine)) == 90
    assert_one_run_per_tick(engine)


def test_l2_inv_11_a_tick_decided_before_an_update_is_folded_keeps_its_snapshot(
    ledger: SqlLedger, engine: Engine, compactor: Compactor
) -> None:
    created = at("2024-01-01T00:00:00Z")
    ctx = service(ledger, engine, created, Scope(TENANT, WORKSPACE))
    sid = create_schedule(ctx, spec(asset_selection=("old",))).resource_id
    assert sid is not None
    compactor.catch_up()
    update_schedule(ctx, sid, spec(asset_selection=("new",)))  # not folded yet
    run_schedule_pass(make_env(ledger, engine), at("2024-01-01T01:00:00Z"))
    compactor.catch_up()
    (tick,) = triggered(engine)
    (run,) = table(engine, "runs").values()
    assert tick["snapshot"]["definition_version"] == 1  # type: ignore[index]
    assert run["asset_selection"] == tick["snapshot"]["asset_selection"] == ["old"]  # type: ignore[index]
    definition = table(engine, "schedule_definitions")[(TENANT, sid)]
    assert definition["spec"]["asset_selection"] == ["new"]  # type: ignore[index]
    # The next tick is decided from the new definition.
    run_schedule_pass(make_env(ledger, engine), at("2024-01-01T02:00:00Z"))
    compactor.catch_up()
    assert sorted(r["asset_selection"][0] for r in table(engine, "runs").values()) == [  # type: ignore[index]
        "new",
        "old",
    ]


def test_an_invalid_definition_records_one_failed_tick_however_often_it_runs(
    ledger: SqlLedger, engine: Engine, compactor: Compactor
) -> None:
    bad = ScheduleCreated(schedule_id="BAD", definition_version=1, spec=spec(cron="not a cron"))
    ledger.append([OrchestrationEvent.new(TENANT, WORKSPACE, bad, now=at("2024-01-01T00:00Z"))])
    compactor.catch_up()
    env = make_env(ledger, engine)
    for hour in range(1, 4):
        report = run_schedule_pass(env, at("2024-01-01T00:00Z") + timedelta(hours=hour))
        assert report.errors == 0
        assert report.next_due is None
        compactor.catch_up()
    (failed,) = table(engine, "schedule_ticks").values()
    assert (failed["status"], failed["reason"]) == ("failed", "invalid_definition")
    assert "not a cron" in str(failed["error"])


def test_a_schedule_that_cannot_be_evaluated_does_not_stop_the_others(
    ledger: SqlLedger, engine: Engine, compactor: Compactor
) -> None:
    created = at("2024-01-01T00:00:00Z")
    create_schedule(service(ledger, engine, created, Scope(TENANT, WORKSPACE)), spec())
    create_schedule(service(ledger, engine, created, OTHER), spec())
    compactor.catch_up()
    only_acme = TenantSecrets({TENANT: SECRET})  # globex's secret is missing
    errors_before = REGISTRY.get_sample_value(
        "arco_controller_errors_total", {"controller": "schedules"}
    )
    report = run_schedule_pass(make_env(ledger, engine, only_acme), at("2024-01-01T01:00:00Z"))
    assert report.errors == 1
    assert report.appended == 2
    assert report.next_due == at("2024-01-01T02:00:00Z")
    errors_after = REGISTRY.get_sample_value(
        "arco_controller_errors_total", {"controller": "schedules"}
    )
    assert (errors_after or 0) - (errors_before or 0) == 1


def test_ticks_are_counted_by_status_once(
    ledger: SqlLedger, engine: Engine, compactor: Compactor
) -> None:
    created = at("2024-01-01T00:00:00Z")
    ctx = service(ledger, engine, created, Scope(TENANT, WORKSPACE))
    sid = create_schedule(ctx, spec(cron="*/15 * * * *")).resource_id
    assert sid is not None
    pause_schedule(ctx, sid)
    compactor.catch_up()

    def count(status: str) -> float:
        value = REGISTRY.get_sample_value("arco_schedule_ticks_total", {"status": status})
        return value or 0.0

    before = count("skipped")
    env = make_env(ledger, engine)
    run_schedule_pass(env, at("2024-01-01T00:15:00Z"))
    run_schedule_pass(env, at("2024-01-01T00:15:00Z"))  # a duplicate is not counted
    assert count("skipped") - before == 1


@pytest.mark.parametrize("minutes_down", [90, 3 * 24 * 60])
def test_catch_up_after_downtime_on_the_real_stack(
    ledger: SqlLedger, engine: Engine, compactor: Compactor, minutes_down: int
) -> None:
    created = at("2024-01-01T00:00:00Z")
    ctx = service(ledger, engine, created, Scope(TENANT, WORKSPACE))
    create_schedule(ctx, spec(cron="*/10 * * * *", max_catchup_ticks=5))
    compactor.catch_up()
    run_schedule_pass(make_env(ledger, engine), created + timedelta(minutes=minutes_down))
    compactor.catch_up()
    ticks = sorted(table(engine, "schedule_ticks").values(), key=lambda t: str(t["tick_id"]))
    statuses = Counter((t["status"], t["reason"]) for t in ticks)
    assert statuses[("triggered", None)] == 5
    skipped = sum(int(str(t["skipped_count"])) for t in ticks if t["status"] == "skipped")
    assert skipped + 5 == minutes_down // 10  # every missed instant is accounted for
    assert_one_run_per_tick(engine)


def test_l2_inv_1_a_tick_appended_twice_is_one_event_and_one_row(
    ledger: SqlLedger, engine: Engine, compactor: Compactor
) -> None:
    created = at("2024-01-01T00:00:00Z")
    create_schedule(service(ledger, engine, created, Scope(TENANT, WORKSPACE)), spec())
    compactor.catch_up()
    definition_doc = next(iter(table(engine, "schedule_definitions").values()))
    definition = ScheduleDefinition.from_doc(TENANT, WORKSPACE, definition_doc)
    (decision,) = reconcile([definition], {}, at("2024-01-01T01:00:00Z"), SECRETS.for_tenant)
    early = ledger_for(engine, clock=ManualClock(at("2024-01-01T01:00:00Z")))
    first = early.append(decision)
    again = early.append(decision)
    assert [o.duplicate for o in first] == [False, False]
    assert [o.duplicate for o in again] == [True, True]
    compactor.catch_up()
    before = table(engine, "schedule_ticks"), table(engine, "runs")
    assert len(before[0]) == len(before[1]) == 1
    # Eight days on, the dedup entries have expired: the same tick decided again (other
    # event ids, same keys) is appended, and the fold must still change nothing.
    late = ledger_for(engine, clock=ManualClock(at("2024-01-09T00:00:00Z")))
    redecided = reconcile([definition], {}, at("2024-01-01T01:00:30Z"), SECRETS.for_tenant)
    assert [o.duplicate for o in late.append(redecided[0])] == [False, False]
    compactor.catch_up()
    assert (table(engine, "schedule_ticks"), table(engine, "runs")) == before


def test_l2_inv_10_every_tick_chains_to_its_run_through_the_run_key(
    ledger: SqlLedger, engine: Engine, compactor: Compactor
) -> None:
    created = at("2024-01-01T00:00:00Z")
    for scope in (Scope(TENANT, WORKSPACE), OTHER):
        create_schedule(service(ledger, engine, created, scope), spec(cron="*/20 * * * *"))
    compactor.catch_up()
    run_schedule_pass(make_env(ledger, engine), at("2024-01-01T03:00:00Z"))
    compactor.catch_up()
    assert len(triggered(engine)) == 2 * 9
    assert_one_run_per_tick(engine)
