"""``--wait``: poll a resource until it settles, with a progress bar."""

from __future__ import annotations

import time
from collections.abc import Callable

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from arco.cli.common import err_console


def wait_until(
    fetch: Callable[[], dict[str, object]],
    done: Callable[[dict[str, object]], bool],
    progress_of: Callable[[dict[str, object]], tuple[int, int]],
    *,
    label: str,
    interval: float = 0.5,
    timeout: float | None = None,
    quiet: bool = False,
) -> dict[str, object]:
    """Poll ``fetch`` until ``done``; shows completed/total from ``progress_of``."""
    started = time.monotonic()
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err_console, disable=quiet, transient=False) as bar:
        task = bar.add_task(label, total=None)
        while True:
            current = fetch()
            completed, total = progress_of(current)
            bar.update(
                task,
                completed=completed,
                total=total or None,
                description=f"{label} [{current.get('state', '')}]",
            )
            if done(current):
                return current
            if timeout is not None and time.monotonic() - started > timeout:
                raise TimeoutError(f"{label} did not finish within {timeout:.0f}s")
            time.sleep(interval)
