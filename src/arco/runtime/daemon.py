"""The daemon loop: compactor + controller passes, waking for the next due work.

A pass reads the clock once (``now``), decides, appends one batch per decision.
The loop folds the ledger before each pass so every pass decides on fresh
projections, and sleeps until the earliest ``next_due`` any pass reported
(bounded by ``interval``) instead of a fixed period — that is what keeps the
scheduled-time → RunRequested delay under a second.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from arco import metrics
from arco.compactor import Compactor
from arco.logs import get_logger
from arco.runtime.env import PassReport, RuntimeEnv

Pass = Callable[[RuntimeEnv, datetime], PassReport]
PRUNE_EVERY_SECONDS = 3600.0


@dataclass
class Daemon:
    env: RuntimeEnv
    compactor: Compactor
    passes: Sequence[tuple[str, Pass]]
    interval: float = 2.0
    min_sleep: float = 0.01
    # While sleeping, look at the ledger head this often: workers and API servers in
    # other processes append facts (a task finished, a backfill created) that the
    # controllers should act on now, not at the end of the sleep.
    head_poll: float = 0.1
    wake: threading.Event = field(default_factory=threading.Event)
    _last_prune: float = 0.0

    def __post_init__(self) -> None:
        self.log = get_logger("daemon")

    def run_once(self, now: datetime | None = None) -> list[PassReport]:
        """One pass of every controller as of ``now`` (the clock's time if omitted)."""
        now = now or self.env.clock.now()
        self.compactor.catch_up()
        reports = []
        for name, run_pass in self.passes:
            try:
                report = run_pass(self.env, now)
            except Exception:
                # A pass isolates failures per entity; this catches a pass that broke as a
                # whole (say, the database went away) so the loop itself keeps running.
                self.log.exception("pass_failed", controller=name)
                metrics.CONTROLLER_ERRORS.labels(name).inc()
                report = PassReport(name, errors=1)
            reports.append(report)
            if report.appended:
                self.compactor.catch_up()
        self._prune_keys()
        return reports

    def seconds_until_next(self, reports: Sequence[PassReport], now: datetime) -> float:
        due = [r.next_due for r in reports if r.next_due is not None]
        if not due:
            return self.interval
        wait = (min(due) - now).total_seconds()
        return max(self.min_sleep, min(self.interval, wait))

    def run_forever(self, stop: threading.Event) -> None:
        """Pass after pass until ``stop`` is set (set ``wake`` too, to stop at once)."""
        self.log.info("daemon_started", passes=[name for name, _ in self.passes])
        while not stop.is_set():
            before = self.env.ledger.head()
            reports = self.run_once(self.env.clock.now())
            seen = self.env.ledger.head()
            if seen - before > sum(r.appended for r in reports):
                continue  # someone else appended while the passes ran: look again now
            self._sleep(self.seconds_until_next(reports, self.env.clock.now()), stop, seen)
        self.log.info("daemon_stopped")

    def _sleep(self, seconds: float, stop: threading.Event, seen: int) -> None:
        """Sleep up to ``seconds``, waking early for ``wake`` or ledger events after ``seen``."""
        deadline = time.monotonic() + seconds
        while not stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0 or self.wake.wait(min(self.head_poll, left)):
                break
            if self.env.ledger.head() != seen:
                break
        self.wake.clear()

    def _prune_keys(self) -> None:
        if time.monotonic() - self._last_prune >= PRUNE_EVERY_SECONDS:
            self._last_prune = time.monotonic()
            pruned = self.env.ledger.prune_expired_keys()
            if pruned:
                self.log.info("idempotency_keys_pruned", count=pruned)
