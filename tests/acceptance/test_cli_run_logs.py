"""``arco runs logs``: the real binary reading compute logs from a server that has them.

``arco serve`` does not hand the API a compute log directory (yet), so this test serves the
same app in-process with one, and drives it with the real ``arco`` binary over HTTP.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from arco.api.app import create_app
from arco.runtime.compute_logs import DEFAULT_MAX_BYTES, attempt_dir
from arco.runtime.instance import Instance
from support.api import api_state
from support.databases import database_url
from support.server import arco, free_port

pytestmark = pytest.mark.slow
TOKEN = "token-acme"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """(url, compute log directory) of an API served from a thread of this process."""
    logs_dir = tmp_path / "compute_logs"
    with database_url("sqlite", tmp_path) as url:
        instance = Instance.open(url)
        state = api_state(instance)
        state.compute_logs_dir = logs_dir
        port = free_port()
        config = uvicorn.Config(
            create_app(state), host="127.0.0.1", port=port, log_level="warning", ws="none"
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 30
        while not server.started:
            assert thread.is_alive(), "the API server thread died"
            assert time.monotonic() < deadline, "the API server did not start"
            time.sleep(0.02)
        try:
            yield f"http://127.0.0.1:{port}", logs_dir
        finally:
            server.should_exit = True
            thread.join(timeout=10)
            instance.close()


def test_logs_of_the_latest_and_of_a_given_attempt(served: tuple[str, Path]) -> None:
    url, logs_dir = served
    requested = arco("runs", "request", "raw", "--json", url=url, token=TOKEN)
    assert requested.returncode == 0, requested.stderr
    run_id = json.loads(requested.stdout)["id"]
    for attempt, text in ((1, "first\n"), (2, "second\n")):
        directory = attempt_dir(logs_dir, run_id, "raw", attempt)
        directory.mkdir(parents=True)
        (directory / "stdout.log").write_text(text)
        (directory / "stderr.log").write_text(f"INFO attempt {attempt}\n")
    # Past one page (1 MiB): the command follows next_offset to the end.
    big = "x" * (DEFAULT_MAX_BYTES + 10) + "\nend\n"
    (attempt_dir(logs_dir, run_id, "raw", 2) / "stdout.log").write_text(big)

    latest = arco("runs", "logs", run_id, "--task", "raw", "--json", url=url, token=TOKEN)
    assert latest.returncode == 0, latest.stderr
    log = json.loads(latest.stdout)
    assert (log["attempt"], log["attempts"]) == (2, [1, 2])
    assert log["stdout"]["text"] == big
    assert log["stderr"]["text"] == "INFO attempt 2\n"

    first = arco(
        "runs", "logs", run_id, "--task", "raw", "--attempt", "1", "--stream", "stdout",
        url=url, token=TOKEN,
    )  # fmt: skip
    assert first.returncode == 0, first.stderr
    assert first.stdout == "first\n"

    missing = arco("runs", "logs", run_id, "--task", "nope", "--json", url=url, token=TOKEN)
    assert missing.returncode == 2
    assert json.loads(missing.stdout)["error"]["code"] == "not_found"
