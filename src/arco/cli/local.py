"""Opening an instance for a long-running command: schema, secrets, project sync."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from arco.cli.common import err_console
from arco.config import StoreConfig, resolve_store
from arco.fold.rows import Scope
from arco.runtime.composition import build_daemon, ensure_schema, resolve_secrets
from arco.runtime.daemon import Daemon
from arco.runtime.env import RuntimeEnv
from arco.runtime.instance import Instance
from arco.secrets import SECRET_FILE, TenantSecrets
from arco.services import ServiceContext

if TYPE_CHECKING:
    from arco.sdk.definitions import Definitions


@dataclass
class Opened:
    config: StoreConfig
    instance: Instance
    secrets: TenantSecrets
    scope: Scope
    definitions: Definitions | None

    @property
    def env(self) -> RuntimeEnv:
        return self.instance.runtime_env(self.secrets)

    @property
    def logs_dir(self) -> Path:
        return self.config.data_dir / "compute_logs"

    def context(self, actor: str = "cli") -> ServiceContext:
        i = self.instance
        return ServiceContext(self.scope, i.ledger, i.reader, self.secrets, i.clock, actor)

    def daemon(self, interval: float) -> Daemon:
        return build_daemon(self.instance, self.secrets, self.definitions, interval=interval)


@contextmanager
def opened_instance(
    data_dir: Path | None,
    database_url: str | None,
    tenant: str,
    workspace: str,
    definitions: Definitions | None,
) -> Iterator[Opened]:
    config = resolve_store(data_dir, database_url)
    instance = Instance.open(config.database_url)
    try:
        ensure_schema(instance, local=config.is_sqlite)
        secrets, created = resolve_secrets(config.data_dir, tenant, local=config.is_sqlite)
        if created:
            err_console.print(
                f"generated a tenant secret for {tenant!r} in {config.data_dir / SECRET_FILE} "
                "(run ids are derived from it: keep the file with the data)"
            )
        opened = Opened(config, instance, secrets, Scope(tenant, workspace), definitions)
        if definitions is not None:
            _sync(opened, definitions)
        yield opened
    finally:
        instance.close()


def _sync(opened: Opened, definitions: Definitions) -> None:
    from arco.services.definitions import sync_definitions

    opened.instance.compactor.catch_up()
    report = sync_definitions(opened.context("sync"), definitions, wait_seconds=None)
    opened.instance.compactor.catch_up()
    for label, names in (("created", report.created), ("updated", report.updated)):
        if names:
            err_console.print(f"{label}: {', '.join(names)}")
    if report.not_in_code:
        err_console.print(
            f"in the ledger but not in code (left alone): {', '.join(report.not_in_code)}"
        )
