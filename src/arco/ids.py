"""Identity: ULIDs, run ids derived from run keys, and request fingerprints.

A run id is an HMAC of the run key under the tenant's secret, so the same run
key always names the same run, ids of different tenants never collide, and an
outsider cannot enumerate run ids from guessable run keys (DESIGN §3).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import datetime

from ulid import ULID

RUN_ID_PREFIX = "run_"
_RUN_ID_CHARS = 26


def new_ulid() -> str:
    """A fresh random ULID; only edges (API, runners) call this."""
    return str(ULID())


def derived_ulid(at: datetime, seed: str) -> str:
    """A ULID whose time part is ``at`` and whose random part is hashed from ``seed``.

    Pure code uses it so that the same decision at the same instant produces the
    same event id, which keeps controllers deterministic and replayable.
    """
    millis = int(at.timestamp() * 1000)
    entropy = hashlib.sha256(seed.encode()).digest()[:10]
    return str(ULID.from_bytes(millis.to_bytes(6, "big") + entropy))


def run_id_from_run_key(tenant_id: str, workspace_id: str, run_key: str, tenant_secret: str) -> str:
    """``run_`` + the first 26 lowercase base32 chars of HMAC(secret, tenant:workspace:key)."""
    message = f"{tenant_id}:{workspace_id}:{run_key}".encode()
    digest = hmac.new(tenant_secret.encode(), message, hashlib.sha256).digest()
    encoded = base64.b32encode(digest[:16]).decode().lower()
    return RUN_ID_PREFIX + encoded[:_RUN_ID_CHARS]


def canonical_json(value: object) -> str:
    """JSON with sorted keys and no whitespace: the form hashed for fingerprints."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def request_fingerprint(
    asset_selection: list[str] | tuple[str, ...],
    partition_selection: object,
    tags: Mapping[str, str] | None = None,
) -> str:
    """sha256 of what the run would do: assets, partitions and behaviour-changing tags."""
    return sha256_hex(
        canonical_json(
            {
                "assets": sorted(asset_selection),
                "partitions": partition_selection,
                "tags": dict(sorted((tags or {}).items())),
            }
        )
    )
