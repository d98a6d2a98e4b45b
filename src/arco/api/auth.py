"""Bearer tokens: each token scopes its caller to one tenant and workspace.

Tokens come from ``ARCO_API_TOKENS`` (JSON ``{"token": {"tenant": "t", "workspace": "w"}}``)
or a JSON file of the same shape.  A caller never sees another tenant's objects:
every read and write goes through the caller's :class:`~arco.fold.rows.Scope`.
"""

from __future__ import annotations

import hmac
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from arco.errors import AuthenticationError, ConfigurationError
from arco.fold.rows import Scope

TOKENS_ENV = "ARCO_API_TOKENS"


@dataclass(frozen=True)
class TokenMap:
    by_token: Mapping[str, Scope]

    def scope_for(self, authorization: str | None) -> Scope:
        """The scope of an ``Authorization: Bearer <token>`` header, or 401."""
        if not authorization or not authorization.lower().startswith("bearer "):
            raise AuthenticationError(
                "missing bearer token", field="Authorization", allowed="Bearer <token>"
            )
        presented = authorization.split(" ", 1)[1].strip()
        for token, scope in self.by_token.items():
            if hmac.compare_digest(token.encode(), presented.encode()):
                return scope
        raise AuthenticationError("unknown bearer token", field="Authorization")


def parse_tokens(raw: str) -> TokenMap:
    try:
        parsed = json.loads(raw)
        return TokenMap(
            {
                str(token): Scope(str(entry["tenant"]), str(entry["workspace"]))
                for token, entry in parsed.items()
            }
        )
    except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as error:
        raise ConfigurationError(
            'API tokens must be JSON {"token": {"tenant": "...", "workspace": "..."}}',
            field=TOKENS_ENV,
        ) from error


def load_tokens(path: Path | None = None) -> TokenMap:
    raw = os.environ.get(TOKENS_ENV)
    if raw is None and path is not None and path.exists():
        raw = path.read_text()
    if not raw:
        raise ConfigurationError(
            "no API tokens configured: set ARCO_API_TOKENS or pass --tokens-file", field=TOKENS_ENV
        )
    return parse_tokens(raw)
