"""Entry points run as real child processes by the concurrency and crash tests.

python -m support.child append URL WORKER BATCHES BATCH_SIZE KEY_SPACE
python -m support.child compact URL BATCH STOP_FILE
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from arco.compactor import Compactor
from arco.ledger import ledger_for
from arco.storage.database import open_engine
from support.factories import envelope, run_requested


def append(url: str, worker: int, batches: int, batch_size: int, key_space: int) -> None:
    ledger = ledger_for(open_engine(url))
    for index in range(batches):
        keys = [(worker * 7919 + index * batch_size + i) % key_space for i in range(batch_size)]
        now = datetime.now(UTC)
        events = [envelope(run_requested(f"k{key}"), at=now) for key in keys]
        ledger.append(events)
        print(f"committed {index}", flush=True)


def compact(url: str, batch: int, stop_file: str) -> None:
    compactor = Compactor(ledger_for(open_engine(url)))
    while True:
        folded = compactor.run_once(limit=batch).folded
        print(f"folded {folded} to {compactor.watermark()}", flush=True)
        if folded == 0:
            if Path(stop_file).exists():
                return
            time.sleep(0.01)


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    if command == "append":
        url, worker, batches, size, space = args
        append(url, int(worker), int(batches), int(size), int(space))
    elif command == "compact":
        url, batch, stop = args
        compact(url, int(batch), stop)
    else:
        raise SystemExit(f"unknown command {command}")
