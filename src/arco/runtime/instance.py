"""An Arco instance: one database with its ledger, reader and compactor.

``arco serve``, ``arco daemon``, ``arco worker``, ``arco dev`` and
``arco.testing`` all start from one of these.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Engine

from arco.clock import Clock, SystemClock
from arco.compactor import Compactor
from arco.ledger import DEFAULT_DEDUP_TTL, SqlLedger, ledger_for
from arco.runtime.env import RuntimeEnv
from arco.secrets import TenantSecrets
from arco.storage.database import open_engine
from arco.storage.migrate import upgrade
from arco.storage.reader import ProjectionReader


@dataclass
class Instance:
    engine: Engine
    ledger: SqlLedger
    reader: ProjectionReader
    compactor: Compactor
    clock: Clock

    @classmethod
    def open(
        cls,
        database_url: str,
        *,
        clock: Clock | None = None,
        migrate: bool = False,
        dedup_ttl: timedelta = DEFAULT_DEDUP_TTL,
    ) -> Instance:
        engine = open_engine(database_url)
        if migrate:
            upgrade(engine)
        clock = clock or SystemClock()
        ledger = ledger_for(engine, clock=clock, dedup_ttl=dedup_ttl)
        return cls(engine, ledger, ProjectionReader(engine), Compactor(ledger), clock)

    def close(self) -> None:
        self.engine.dispose()

    def runtime_env(self, secrets: TenantSecrets) -> RuntimeEnv:
        return RuntimeEnv(self.ledger, self.reader, secrets, self.clock)
