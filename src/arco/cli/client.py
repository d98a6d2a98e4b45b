"""The HTTP client behind the resource commands (schedules, sensors, backfills, …).

Server URL and token come from flags, then ``ARCO_URL`` / ``ARCO_TOKEN``, then
the ``client.json`` that ``arco dev`` writes into its data directory.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

from arco.config import DATA_DIR_ENV, DEFAULT_DATA_DIR
from arco.errors import ArcoError, ConfigurationError, NotFoundError

URL_ENV = "ARCO_URL"
_NAMED = {"sensors": "sensor_id", "schedules": "schedule_id"}
_NOT_NAMES = {"", "ticks"}
_ULID = re.compile(r"[0-9A-HJKMNP-TV-Z]{26}")
TOKEN_ENV = "ARCO_TOKEN"
CLIENT_FILE = "client.json"

UrlOption = Annotated[
    str | None,
    typer.Option(
        "--url",
        envvar=URL_ENV,
        help="Arco API base URL (default: the one `arco dev` wrote).",
        show_default=False,
    ),
]
TokenOption = Annotated[
    str | None,
    typer.Option(
        "--token",
        envvar=TOKEN_ENV,
        help="Bearer token (default: the one `arco dev` wrote).",
        show_default=False,
    ),
]


class ApiError(ArcoError):
    """An error answered by the server, carrying its stable code and field."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        error = body.get("error", {}) if isinstance(body, dict) else {}
        super().__init__(
            str(error.get("message", f"HTTP {status}")),
            field=error.get("field"),
            value=error.get("value"),
            allowed=error.get("allowed"),
            details=error.get("details"),
        )
        self.code = str(error.get("code", f"http_{status}"))  # type: ignore[misc]
        self.http_status = status


def write_client_file(data_dir: Path, url: str, token: str) -> Path:
    path = data_dir / CLIENT_FILE
    path.write_text(json.dumps({"url": url, "token": token}, indent=2))
    path.chmod(0o600)
    return path


def _from_file() -> dict[str, str]:
    directory = Path(os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR)
    path = directory / CLIENT_FILE
    if not path.exists():
        return {}
    loaded: dict[str, str] = json.loads(path.read_text())
    return loaded


@dataclass
class ApiClient:
    url: str
    token: str
    timeout: float = 30.0

    @classmethod
    def resolve(cls, url: str | None, token: str | None) -> ApiClient:
        stored = _from_file()
        url = url or stored.get("url")
        token = token or stored.get("token")
        if not url or not token:
            raise ConfigurationError(
                "no Arco server configured: start `arco dev`, or pass --url/--token "
                "(or set ARCO_URL/ARCO_TOKEN)",
                field="--url",
            )
        return cls(url.rstrip("/"), token)

    def by_name(self, path: str) -> str:
        """``/sensors/events_pushed/push`` → ``/sensors/01J…/push``.

        Commands take a schedule or sensor by id or by name; names are resolved
        here, in one place, by listing the resource (ids are ULIDs, names are not).
        """
        parts = path.split("/")
        if len(parts) < 3 or parts[1] not in _NAMED or parts[2] in _NOT_NAMES:
            return path
        reference = parts[2]
        if _ULID.fullmatch(reference):
            return path
        id_field = _NAMED[parts[1]]
        items = self.pages(f"/{parts[1]}", fresh="true")
        found = [item[id_field] for item in items if item.get("name") == reference]
        if not found:
            raise NotFoundError(
                f"no {parts[1][:-1]} {reference!r} (no id or name matches)",
                field=id_field,
                value=reference,
                allowed=sorted(str(item.get("name")) for item in items),
            )
        parts[2] = str(found[0])
        return "/".join(parts)

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: Any = None,
        idempotency_key: str | None = None,
    ) -> Any:
        headers = {"Authorization": f"Bearer {self.token}"}
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        path = self.by_name(path)
        try:
            response = httpx.request(
                method,
                f"{self.url}/api/v1/orchestration{path}",
                params=clean,
                json=body,
                headers=headers,
                timeout=self.timeout,
            )
        except httpx.HTTPError as error:
            raise ConfigurationError(f"cannot reach {self.url}: {error}", field="--url") from error
        payload = response.json() if response.content else {}
        if response.status_code >= 400:
            raise ApiError(response.status_code, payload)
        return payload

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=params)

    def post(
        self, path: str, body: Any = None, *, idempotency_key: str | None = None, **params: Any
    ) -> Any:
        return self.request("POST", path, params=params, body=body, idempotency_key=idempotency_key)

    def patch(self, path: str, body: Any = None, **params: Any) -> Any:
        return self.request("PATCH", path, params=params, body=body)

    def pages(self, path: str, *, limit: int | None = None, **params: Any) -> list[Any]:
        """Follow ``next_cursor`` until the end (or ``limit`` items)."""
        items: list[Any] = []
        cursor = None
        while True:
            page = self.get(path, cursor=cursor, **params)
            items += page["items"]
            cursor = page.get("next_cursor")
            if cursor is None or (limit is not None and len(items) >= limit):
                return items[:limit] if limit is not None else items
