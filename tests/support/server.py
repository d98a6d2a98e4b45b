"""A real ``arco serve`` process on a free port, and the real ``arco`` binary to drive it.

    with running_server(tmp_path / "data") as (url, token):
        result = arco("sensors", "list", "--json", url=url, token=token)

The server runs over a fresh SQLite store in ``data_dir`` (``arco db upgrade``
first), with one tenant (``acme``, workspace ``prod``) whose token is returned.
Its output goes to ``data_dir/server.log``, quoted when it fails to start.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ARCO = Path(sys.executable).with_name("arco")
TOKEN = "t"
OTHER_TENANT_TOKEN = "t2"  # tenant globex: for isolation tests against a real server
TENANT_SECRETS = '{"acme": "s", "globex": "s2"}'
API_TOKENS = (
    '{"t": {"tenant": "acme", "workspace": "prod"},'
    ' "t2": {"tenant": "globex", "workspace": "prod"}}'
)
START_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0
# Variables that would point a child at another store or server than the test's.
INHERITED_ARCO = ("ARCO_DATABASE_URL", "ARCO_DATA_DIR", "ARCO_URL", "ARCO_TOKEN")


def arco_env(**extra: str) -> dict[str, str]:
    """The environment of an ``arco`` child: this one, less any Arco settings, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k not in INHERITED_ARCO}
    return {
        **env,
        "ARCO_TENANT_SECRETS": TENANT_SECRETS,
        "ARCO_API_TOKENS": API_TOKENS,
        **extra,
    }


def arco(
    *args: str, url: str | None = None, token: str | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run the ``arco`` binary; ``url``/``token`` are passed as ``--url``/``--token``."""
    connection = [*(["--url", url] if url else []), *(["--token", token] if token else [])]
    return subprocess.run(
        [str(ARCO), *args, *connection],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=arco_env(COLUMNS="200"),
        check=False,
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def running_server(data_dir: Path, project_file: Path | None = None) -> Iterator[tuple[str, str]]:
    """Serve the API over ``data_dir`` until the block ends; yields ``(url, token)``.

    ``project_file`` is handed to ``arco serve -f`` (the project whose sensor and
    asset code the server runs).
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    upgrade = arco("db", "upgrade", "--data-dir", str(data_dir))
    assert upgrade.returncode == 0, f"arco db upgrade failed:\n{upgrade.stderr}"
    # Another process may take the port between probing and binding: try a few.
    for _attempt in range(3):
        port = free_port()
        command = [str(ARCO), "serve", "--data-dir", str(data_dir), "--port", str(port)]
        if project_file is not None:
            command += ["-f", str(project_file)]
        log_path = data_dir / "server.log"
        with log_path.open("w") as log:
            process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, env=arco_env(), text=True
            )
        try:
            url = f"http://127.0.0.1:{port}"
            if _wait_healthy(process, url):
                yield url, TOKEN
                return
        finally:
            _stop(process)
    raise AssertionError(f"arco serve did not start:\n{log_path.read_text()}")


def _wait_healthy(process: subprocess.Popen[str], url: str) -> bool:
    """True once /healthz answers; False if the process exited first."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            if httpx.get(f"{url}/healthz", timeout=1.0).status_code == 200:
                return True
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"arco serve did not answer /healthz within {START_TIMEOUT}s")


def _stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
