"""Per-attempt compute logs: the asset's stdout and stderr (with ``context.log`` lines).

Kept under ``{logs_dir}/{run_id}/{task_key}/{attempt}/`` on the worker's machine
(``{data_dir}/compute_logs`` by default; share the directory between machines
for the API to serve logs of remote workers).  The API and the CLI read them
with :func:`read_compute_log`, a byte-offset page at a time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import quote

from arco.errors import NotFoundError

LogStream = Literal["stdout", "stderr"]
STREAMS: tuple[LogStream, ...] = ("stdout", "stderr")
DEFAULT_MAX_BYTES = 1 << 20
_RUN_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")


@dataclass(frozen=True)
class LogChunk:
    """``text`` from byte ``offset``; read on from ``next_offset``; ``size`` so far."""

    text: str
    offset: int
    next_offset: int
    size: int


def attempt_dir(logs_dir: Path, run_id: str, task_key: str, attempt: int) -> Path:
    """The directory of one attempt; names are escaped so nothing escapes ``logs_dir``."""
    return logs_dir / _safe(run_id) / _safe(task_key) / str(int(attempt))


def read_compute_log(
    logs_dir: Path,
    run_id: str,
    task_key: str,
    attempt: int,
    stream: LogStream = "stdout",
    *,
    offset: int = 0,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> LogChunk:
    """At most ``max_bytes`` of one attempt's ``stream`` from byte ``offset``."""
    if stream not in STREAMS:
        raise NotFoundError(
            f"no log stream {stream!r}", field="stream", value=stream, allowed=list(STREAMS)
        )
    directory = attempt_dir(logs_dir, run_id, task_key, attempt)
    if not _RUN_ID.match(run_id) or not directory.is_dir():
        raise NotFoundError(
            f"no compute log for run {run_id!r} task {task_key!r} attempt {attempt}",
            field="attempt",
            value=attempt,
            details={"run_id": run_id, "task_key": task_key},
        )
    path = directory / f"{stream}.log"
    if not path.exists():
        return LogChunk("", offset, offset, 0)
    with path.open("rb") as handle:
        size = handle.seek(0, 2)
        start = min(max(offset, 0), size)
        handle.seek(start)
        data = handle.read(max(0, max_bytes))
    return LogChunk(data.decode("utf-8", errors="replace"), start, start + len(data), size)


def attempts_logged(logs_dir: Path, run_id: str, task_key: str) -> list[int]:
    """The attempt numbers that have a log directory, ascending."""
    directory = logs_dir / _safe(run_id) / _safe(task_key)
    if not directory.is_dir():
        return []
    return sorted(int(p.name) for p in directory.iterdir() if p.name.isdigit())


def _safe(name: str) -> str:
    # Percent-escape everything but letters, digits, ``-`` and ``_``: no ``/``, no ``..``.
    return quote(name, safe="").replace(".", "%2E").replace("~", "%7E") or "%00"
