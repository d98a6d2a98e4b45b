"""Tenant secrets: the HMAC keys of run ids (DESIGN §3). Configuration, never ledger data."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from arco.errors import ConfigurationError

SECRETS_ENV = "ARCO_TENANT_SECRETS"  # JSON object {"tenant": "secret", ...}
SECRET_FILE = "tenant-secrets.json"


@dataclass(frozen=True)
class TenantSecrets:
    by_tenant: Mapping[str, str]

    def for_tenant(self, tenant_id: str) -> str:
        try:
            return self.by_tenant[tenant_id]
        except KeyError:
            raise ConfigurationError(
                f"no secret configured for tenant {tenant_id!r}",
                field="tenant_id",
                value=tenant_id,
                allowed=sorted(self.by_tenant),
            ) from None


def load_secrets(path: Path | None = None) -> TenantSecrets:
    """Secrets from ``ARCO_TENANT_SECRETS`` or a JSON file; refuses to run without any."""
    raw = os.environ.get(SECRETS_ENV)
    if raw is None and path is not None and path.exists():
        raw = path.read_text()
    if not raw:
        raise ConfigurationError(
            "no tenant secrets configured: set ARCO_TENANT_SECRETS to a JSON object "
            '{"tenant": "secret"} or use `arco dev`, which generates one',
            field=SECRETS_ENV,
        )
    try:
        parsed = json.loads(raw)
    except json.JSONDecodeError as error:
        raise ConfigurationError(
            f"tenant secrets are not JSON: {error}", field=SECRETS_ENV
        ) from error
    if not isinstance(parsed, dict) or not all(isinstance(v, str) and v for v in parsed.values()):
        raise ConfigurationError(
            "tenant secrets must map tenant ids to non-empty strings", field=SECRETS_ENV
        )
    return TenantSecrets(parsed)


def ensure_dev_secrets(data_dir: Path, tenants: list[str]) -> tuple[TenantSecrets, bool]:
    """Load the data directory's secrets, generating missing ones; returns (secrets, created)."""
    path = data_dir / SECRET_FILE
    existing: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    missing = [t for t in tenants if t not in existing]
    for tenant in missing:
        existing[tenant] = secrets.token_urlsafe(32)
    if missing:
        data_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(existing, indent=2))
        path.chmod(0o600)
    return TenantSecrets(existing), bool(missing)
