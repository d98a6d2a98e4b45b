"""Ledger append and fold rates, and a full replay, on SQLite and PostgreSQL.

    .venv/bin/python benchmarks/ledger.py [--events 100000] [--replay 1000000] [--runs 3]

Append: batches of 500 RunRequested events (distinct keys). Fold: the compactor
catching up from 0 in batches of 1000. Replay: `rebuild` of a ledger of
--replay events (run once; it is long).
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from common import fresh_database, header, median_of, table

from arco.compactor import Compactor
from arco.ledger import ledger_for
from arco.storage.database import open_engine
from support.factories import envelope, run_requested

BATCH = 500
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def fill(url: str, count: int) -> float:
    """Append ``count`` events in batches; returns events/s."""
    ledger = ledger_for(open_engine(url))
    events = [envelope(run_requested(f"k{i}"), at=NOW) for i in range(count)]
    started = time.perf_counter()
    for start in range(0, count, BATCH):
        ledger.append(events[start : start + BATCH])
    elapsed = time.perf_counter() - started
    ledger.engine.dispose()
    return count / elapsed


def fold(url: str) -> float:
    engine = open_engine(url)
    compactor = Compactor(ledger_for(engine))
    started = time.perf_counter()
    folded = compactor.rebuild(limit=1000)
    elapsed = time.perf_counter() - started
    engine.dispose()
    return folded / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--replay", type=int, default=0, help="also time a rebuild of this many")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--backends", default="sqlite,postgres")
    args = parser.parse_args()
    rows = []
    for backend in args.backends.split(","):
        appends, folds = [], []
        for _ in range(args.runs):
            with fresh_database(backend) as url:
                appends.append(fill(url, args.events))
                folds.append(median_of(1, lambda url=url: fold(url)))
        rows.append(
            [
                backend,
                f"{args.events:,}",
                f"{sorted(appends)[len(appends) // 2]:,.0f}",
                f"{sorted(folds)[len(folds) // 2]:,.0f}",
            ]
        )
        if args.replay:
            with fresh_database(backend) as url:
                fill(url, args.replay)
                started = time.perf_counter()
                rate = fold(url)
                rows[-1].append(
                    f"{args.replay:,} in {time.perf_counter() - started:,.0f} s ({rate:,.0f}/s)"
                )
    columns = ["backend", "events", "append events/s", "fold events/s"]
    if args.replay:
        columns.append("full replay")
    print(header("Ledger append and fold"))
    print(table(columns, rows))
    print(f"\nmedian of {args.runs} runs; append batches of {BATCH}; fold batches of 1000")


if __name__ == "__main__":
    main()
