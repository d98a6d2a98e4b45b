"""The scripted backfill scenario on every backend, through the real execution fold.

Create a 1,000-partition backfill, pause it with runs active, let a failure land
while paused, resume, finish with some chunks failed (some only partly), retry
the failed partitions, and end with every partition materialized exactly once.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from arco.clock import ManualClock
from arco.compactor import Compactor
from arco.events import RangeSelector, TaskFinished
from arco.ledger import SqlLedger
from arco.partitions import DailyPartitionsDefinition
from arco.partitions.status import AssetInfo, DisplayStatus
from arco.runtime.backfill_pass import run_backfill_pass
from arco.runtime.env import RuntimeEnv
from arco.secrets import TenantSecrets
from arco.services import ServiceContext
from arco.services import backfills as service
from arco.services.partitions import asset_summary
from support.backfills import run_events, service_context
from support.factories import SECRET, TENANT, envelope

START = datetime(2024, 1, 1, tzinfo=UTC)
NOW = datetime(2027, 1, 1, tzinfo=UTC)
DAILY = DailyPartitionsDefinition(start_date="2024-01-01")
ALL = RangeSelector(start="2024-01-01", end=DAILY.key_at(999))
FAILING = {DAILY.key_at(i) for i in (7, 130, 131, 555, 999)}  # chunks 0, 2, 11, 19 (partly)


class Scenario:
    def __init__(self, ledger: SqlLedger, compactor: Compactor) -> None:
        self.clock = ManualClock(NOW)
        self.ctx: ServiceContext = service_context(ledger, self.clock)
        self.env = RuntimeEnv(ledger, self.ctx.reader, TenantSecrets({TENANT: SECRET}), self.clock)
        self.compactor = compactor
        self.executed: set[str] = set()

    def step(self) -> None:
        """What the daemon does: fold, run the backfill pass, fold."""
        self.clock.advance(timedelta(seconds=1))
        self.compactor.catch_up()
        assert run_backfill_pass(self.env, self.clock.now()).errors == 0
        self.compactor.catch_up()

    def execute_active_runs(self, backfill_id: str, failing: set[str]) -> int:
        """Workers run every planned chunk's run once (the failing keys fail)."""
        chunks = service.list_chunks(self.ctx, backfill_id, state="planned", limit=1000).items
        for chunk in chunks:
            run_id = str(chunk["run_id"])
            if run_id in self.executed:
                continue
            self.executed.add(run_id)
            keys = [str(k) for k in chunk["partition_keys"]]  # type: ignore[attr-defined]
            at = self.clock.advance(timedelta(seconds=1))
            self.ctx.append([envelope(e, at=at) for e in run_events(run_id, keys, failing)])
        self.compactor.catch_up()
        return len(chunks)

    def get(self, backfill_id: str) -> dict[str, object]:
        return service.get(self.ctx, backfill_id)

    def drive(self, backfill_id: str, failing: set[str]) -> None:
        for _ in range(100):
            self.step()
            if self.get(backfill_id)["state"] in ("SUCCEEDED", "FAILED", "CANCELLED"):
                return
            self.execute_active_runs(backfill_id, failing)
        raise AssertionError("backfill did not finish")


def test_a_thousand_partition_backfill_ends_with_every_partition_materialized_once(
    ledger: SqlLedger, compactor: Compactor
) -> None:
    world = Scenario(ledger, compactor)
    created = service.create(
        world.ctx,
        {"raw": DAILY},
        asset_selection=["raw"],
        selector=ALL,
        chunk_size=50,
        max_concurrent_runs=4,
    )
    backfill_id = str(created.resource_id)
    world.step()
    doc = world.get(backfill_id)
    assert (doc["state"], doc["total_chunks"]) == ("RUNNING", 20)
    assert doc["counters"]["chunks"]["active"] == 4  # type: ignore[index]

    # Pause with four runs active: they finish (two fail) while nothing new is planned.
    service.pause(world.ctx, backfill_id, expected_state_version=1)
    world.step()
    assert world.execute_active_runs(backfill_id, FAILING) == 4
    world.step()
    doc = world.get(backfill_id)
    assert (doc["state"], doc["display_state"]) == ("PAUSED", "PAUSED_WITH_FAILURES")
    assert doc["counters"]["chunks"]["planned"] == 4  # type: ignore[index]
    assert doc["counters"]["chunks"]["failed"] == 2  # type: ignore[index]

    service.resume(world.ctx, backfill_id, expected_state_version=2)
    world.drive(backfill_id, FAILING)
    doc = world.get(backfill_id)
    counters = doc["counters"]
    assert doc["state"] == "FAILED"
    assert counters["chunks"] == {  # type: ignore[index]
        "total": 20,
        "planned": 20,
        "not_planned": 0,
        "active": 0,
        "succeeded": 16,
        "failed": 4,
        "cancelled": 0,
    }
    assert counters["partitions"]["failed"] == 200  # type: ignore[index]

    # Retry only what failed: 5 partitions, not the 200 of the failed chunks.
    retry = service.retry_failed(world.ctx, backfill_id, "retry-1")
    child_id = str(retry.resource_id)
    world.step()
    child = world.get(child_id)
    assert child["total_partitions"] == len(FAILING)
    assert child["parent_backfill_id"] == backfill_id
    world.drive(child_id, set())
    assert world.get(child_id)["state"] == "SUCCEEDED"

    successes = Counter(
        e.data.partition_key
        for e in ledger.read(0, limit=100_000)
        if isinstance(e.data, TaskFinished) and e.data.outcome == "succeeded"
    )
    assert len(successes) == 1000
    assert set(successes.values()) == {1}
    summary = asset_summary(world.ctx, AssetInfo("raw", DAILY, code_version="v1"))
    assert summary.total == (NOW - START).days
    assert summary.counts[DisplayStatus.MATERIALIZED] == 1000
    assert summary.counts[DisplayStatus.NEVER_MATERIALIZED] == summary.total - 1000
    assert compactor.verify().ok
