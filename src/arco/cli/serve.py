"""``arco serve``: the HTTP API over a store (PostgreSQL for many servers, or SQLite)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from arco.cli.common import DatabaseUrlOption, DataDirOption, reported_errors
from arco.cli.project import AttributeOption, FileOption, ModuleOption, load_project
from arco.config import resolve_store
from arco.logs import configure_logging
from arco.runtime.instance import Instance
from arco.secrets import SECRET_FILE, load_secrets

HostOption = Annotated[str, typer.Option(help="Interface to bind.")]
PortOption = Annotated[int, typer.Option(help="Port to listen on (0 = any free port).")]
TokensFile = Annotated[
    Path | None,
    typer.Option("--tokens-file", help='JSON {"token": {"tenant": …, "workspace": …}}.'),
]


def serve_command(
    module: ModuleOption = None,
    file: FileOption = None,
    attribute: AttributeOption = None,
    data_dir: DataDirOption = None,
    database_url: DatabaseUrlOption = None,
    host: HostOption = "127.0.0.1",
    port: PortOption = 8080,
    tokens_file: TokensFile = None,
    secrets_file: Annotated[
        Path | None, typer.Option("--secrets-file", help="JSON {tenant: secret}.")
    ] = None,
) -> None:
    """Serve the REST API (no controllers; run `arco daemon` and `arco worker` beside it).

    With -m/-f the project is loaded too (push sensors and manual sensor
    evaluation call its code; backfills read its partitions definitions).
    Needs tenant secrets (ARCO_TENANT_SECRETS or --secrets-file) and API tokens
    (ARCO_API_TOKENS or --tokens-file); refuses to start without them.

    Example: ARCO_DATABASE_URL=postgresql://arco@db/arco arco serve --port 8080 --tokens-file tokens.json
    """
    # Imported here so that every other `arco` command starts without loading the web stack.
    import uvicorn

    from arco.api.app import create_app
    from arco.api.auth import load_tokens
    from arco.api.state import ApiState

    configure_logging()
    with reported_errors():
        config = resolve_store(data_dir, database_url)
        secrets = load_secrets(secrets_file or config.data_dir / SECRET_FILE)
        tokens = load_tokens(tokens_file)
        definitions = load_project(module, file, attribute)
        instance = Instance.open(config.database_url, migrate=False)
    state = ApiState(
        ledger=instance.ledger,
        reader=instance.reader,
        compactor=instance.compactor,
        secrets=secrets,
        tokens=tokens,
        clock=instance.clock,
        definitions=definitions,
        compute_logs_dir=config.data_dir / "compute_logs",
    )
    try:
        uvicorn.run(create_app(state), host=host, port=port, log_level="warning")
    finally:
        instance.close()
