"""One place that maps errors to HTTP: a stable code, a message, the offending field."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from arco.api.models import ErrorResponse
from arco.errors import ArcoError
from arco.logs import get_logger

log = get_logger("api")


def error_body(code: str, message: str, **extra: object) -> dict[str, object]:
    return {"error": {"code": code, "message": message, **extra}}


async def _arco_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ArcoError)
    return JSONResponse({"error": error.to_dict()}, status_code=error.status)


async def _validation_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    problems = [
        {
            "field": _field_name(problem.get("loc", ())),
            "message": str(problem.get("msg", "invalid")),
            "type": str(problem.get("type", "")),
        }
        for problem in error.errors()
    ]
    first = problems[0] if problems else {"field": "body", "message": "invalid request"}
    body = error_body(
        "invalid_input",
        f"{first['field']}: {first['message']}",
        field=first["field"],
        details={"problems": problems},
    )
    return JSONResponse(body, status_code=422)


def _field_name(location: Sequence[object]) -> str:
    """``("query", "limit")`` → ``limit``: the name the caller used, not where it was."""
    parts = [str(part) for part in location]
    if parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        parts = parts[1:]
    return ".".join(parts) or "body"


async def _http_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)
    code = {
        400: "malformed_body",
        401: "unauthenticated",
        404: "not_found",
        405: "method_not_allowed",
    }.get(error.status_code, "http_error")
    extra: dict[str, object] = {"field": "body"} if error.status_code == 400 else {}
    return JSONResponse(
        error_body(code, str(error.detail), **extra),
        status_code=error.status_code,
        headers=error.headers,
    )


async def _unexpected(request: Request, error: Exception) -> JSONResponse:
    log.exception("unhandled_error", path=request.url.path, method=request.method)
    return JSONResponse(error_body("internal", "internal server error"), status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ArcoError, _arco_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"description": description, "model": ErrorResponse}
    for status, description in (
        (400, "Malformed request body (not JSON)"),
        (401, "Missing or unknown bearer token"),
        (404, "Not found in the caller's tenant and workspace"),
        (409, "Version conflict, illegal transition or reused Idempotency-Key"),
        (422, "Invalid input (the offending field is named)"),
    )
}
