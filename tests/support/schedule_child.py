"""A schedule daemon in a child process, stepping through simulated time (never the real clock).

python -m support.schedule_child URL START_ISO MINUTES COMPACT_EVERY SECRETS_JSON

Runs ``run_schedule_pass`` once per simulated minute from START_ISO, folding with its own
compactor every COMPACT_EVERY passes (0: never, so its projections lag on purpose), and
prints one JSON line with the totals of its pass reports.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime, timedelta

from arco.clock import ManualClock
from arco.compactor import Compactor
from arco.ledger import ledger_for
from arco.runtime.env import RuntimeEnv
from arco.runtime.schedule_pass import run_schedule_pass
from arco.secrets import TenantSecrets
from arco.storage.database import open_engine
from arco.storage.reader import ProjectionReader


def main(url: str, start_iso: str, minutes: int, compact_every: int, secrets: str) -> None:
    engine = open_engine(url)
    start = datetime.fromisoformat(start_iso)
    ledger = ledger_for(engine)
    env = RuntimeEnv(
        ledger=ledger,
        reader=ProjectionReader(engine),
        secrets=TenantSecrets(json.loads(secrets)),
        clock=ManualClock(start),
    )
    compactor = Compactor(ledger)
    totals = {"passes": 0, "decisions": 0, "appended": 0, "duplicates": 0, "errors": 0}
    for minute in range(minutes + 1):
        report = run_schedule_pass(env, start + timedelta(minutes=minute, seconds=1))
        totals["passes"] += 1
        totals["decisions"] += report.decisions
        totals["appended"] += report.appended
        totals["duplicates"] += report.duplicates
        totals["errors"] += report.errors
        if compact_every and minute % compact_every == 0:
            compactor.run_once()
    engine.dispose()
    print(json.dumps(totals), flush=True)


if __name__ == "__main__":
    url, start_iso, minutes, compact_every, secrets = sys.argv[1:]
    main(url, start_iso, int(minutes), int(compact_every), secrets)
