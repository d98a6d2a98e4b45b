"""Putting an instance together: which passes the daemon runs, schema and secrets checks.

Shared by ``arco daemon``, ``arco worker`` and ``arco dev`` so the three start
the same way.
"""

from __future__ import annotations

import os
from pathlib import Path

from arco.errors import ConfigurationError
from arco.runtime.backfill_pass import run_backfill_pass
from arco.runtime.daemon import Daemon, Pass
from arco.runtime.execution_pass import ExecutionSettings, execution_pass
from arco.runtime.instance import Instance
from arco.runtime.schedule_pass import run_schedule_pass
from arco.runtime.sensor_executor import SensorExecutor
from arco.runtime.sensor_pass import sensor_pass
from arco.sdk.definitions import Definitions
from arco.secrets import (
    SECRET_FILE,
    SECRETS_ENV,
    TenantSecrets,
    ensure_dev_secrets,
    load_secrets,
)
from arco.storage.migrate import current_revision, head_revision, upgrade


def controller_passes(
    definitions: Definitions | None,
    *,
    sensor_executor: SensorExecutor | None = None,
    execution: ExecutionSettings | None = None,
) -> list[tuple[str, Pass]]:
    """Schedules, sensors, backfills and (with a project) the execution engine."""
    registry = definitions.sensors_by_name if definitions is not None else {}
    passes: list[tuple[str, Pass]] = [
        ("schedules", run_schedule_pass),
        ("sensors", sensor_pass(registry, sensor_executor or SensorExecutor())),
        ("backfills", run_backfill_pass),
    ]
    if definitions is not None:
        passes.append(("execution", execution_pass(definitions.asset_graph(), execution)))
    return passes


def build_daemon(
    instance: Instance,
    secrets: TenantSecrets,
    definitions: Definitions | None,
    *,
    interval: float = 2.0,
) -> Daemon:
    env = instance.runtime_env(secrets)
    return Daemon(env, instance.compactor, controller_passes(definitions), interval=interval)


def ensure_schema(instance: Instance, *, local: bool) -> None:
    """Upgrade a local SQLite store; refuse to run a shared database that needs migrating."""
    if local:
        upgrade(instance.engine)
        return
    current, head = current_revision(instance.engine), head_revision()
    if current != head:
        raise ConfigurationError(
            f"database schema is at {current or 'nothing'}, this Arco needs {head}: "
            "run `arco db upgrade` first",
            field="database_url",
        )


def resolve_secrets(data_dir: Path, tenant: str, *, local: bool) -> tuple[TenantSecrets, bool]:
    """Configured secrets; a local store generates its own (returns whether it did).

    A shared (PostgreSQL) store refuses to start without configured secrets.
    """
    if os.environ.get(SECRETS_ENV) or not local:
        return load_secrets(data_dir / SECRET_FILE), False
    return ensure_dev_secrets(data_dir, [tenant])
