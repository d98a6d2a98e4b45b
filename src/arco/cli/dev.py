"""``arco dev``: API, controllers, compactor and an in-process worker in one process."""

from __future__ import annotations

import secrets
import socket
import threading
from pathlib import Path
from typing import Annotated

import typer

from arco.cli.client import write_client_file
from arco.cli.common import DataDirOption, console, err_console, reported_errors
from arco.cli.local import Opened, opened_instance
from arco.cli.project import AttributeOption, FileOption, ModuleOption, load_project
from arco.config import resolve_store
from arco.logs import configure_logging

DEV_TENANT = "default"
DEV_WORKSPACE = "default"
TOKEN_FILE = "dev-token"


def dev_token(data_dir: Path) -> str:
    """The local instance's API token, generated once into the data directory."""
    path = data_dir / TOKEN_FILE
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    token = "dev_" + secrets.token_urlsafe(24)
    path.write_text(token)
    path.chmod(0o600)
    return token


def _free_port(host: str) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


def dev_command(
    module: ModuleOption = None,
    file: FileOption = None,
    attribute: AttributeOption = None,
    data_dir: DataDirOption = None,
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1 (0 = any free port).")] = 3000,
    workers: Annotated[int, typer.Option(min=1, help="Tasks run at once by the worker.")] = 4,
    interval: Annotated[float, typer.Option(help="Longest daemon sleep (s).")] = 1.0,
) -> None:
    """Everything in one process on SQLite: API, controllers, compactor, worker.

    Binds 127.0.0.1 only, prints the URL and a token, and writes them to
    DATA_DIR/client.json so that `arco schedules list` etc. work without flags.

    Example: arco dev -f examples/quickstart/definitions.py
    """
    configure_logging(level="WARNING")
    host = "127.0.0.1"
    with reported_errors():
        store = resolve_store(data_dir, None)
        definitions = load_project(module, file, attribute)
        with opened_instance(
            store.data_dir, None, DEV_TENANT, DEV_WORKSPACE, definitions
        ) as opened:
            _serve(opened, host, port or _free_port(host), workers, interval)


def _serve(opened: Opened, host: str, port: int, workers: int, interval: float) -> None:
    import uvicorn

    from arco.api.app import create_app
    from arco.api.auth import TokenMap
    from arco.api.state import ApiState
    from arco.runtime.worker import WorkerSettings, run_worker

    data_dir = opened.config.data_dir
    token = dev_token(data_dir)
    instance = opened.instance
    state = ApiState(
        ledger=instance.ledger,
        reader=instance.reader,
        compactor=instance.compactor,
        secrets=opened.secrets,
        tokens=TokenMap({token: opened.scope}),
        clock=instance.clock,
        definitions=opened.definitions,
        compute_logs_dir=opened.logs_dir,
    )
    stop = threading.Event()
    daemon = opened.daemon(interval)
    threads = [
        threading.Thread(target=daemon.run_forever, args=(stop,), name="daemon", daemon=True)
    ]
    if opened.definitions is not None:
        settings = WorkerSettings(logs_dir=opened.logs_dir, concurrency=workers, executor="thread")
        threads.append(
            threading.Thread(
                target=run_worker,
                args=(opened.env, opened.definitions, workers, "dev-worker", stop, True),
                kwargs={"settings": settings},
                name="worker",
                daemon=True,
            )
        )
    for thread in threads:
        thread.start()
    url = f"http://{host}:{port}"
    client_file = write_client_file(data_dir, url, token)
    _banner(url, token, data_dir, client_file, opened)
    try:
        uvicorn.run(create_app(state), host=host, port=port, log_level="warning")
    finally:
        stop.set()
        daemon.wake.set()
        for thread in threads:
            thread.join(timeout=10)
        err_console.print("arco dev stopped")


def _banner(url: str, token: str, data_dir: Path, client_file: Path, opened: Opened) -> None:
    console.print(f"[bold green]arco dev[/bold green] is up at [bold]{url}[/bold]")
    console.print(f"  API docs:   {url}/docs")
    console.print(
        f"  token:      {token}   (tenant {opened.scope.tenant_id}, workspace {opened.scope.workspace_id})"
    )
    console.print(f"  data:       {data_dir.resolve()} (SQLite)")
    console.print(f"  CLI config: {client_file} — `arco schedules list` etc. work without flags")
    if opened.definitions is None:
        console.print("  [yellow]no project loaded[/yellow]: pass -f definitions.py to run assets")
    else:
        assets = ", ".join(sorted(opened.definitions.assets_by_key))
        console.print(f"  assets:     {assets}")
    console.print("Ctrl-C to stop.")
