"""One error body for every failure, ``{"error": ..., "error_type": ...}``, so clients
branch on ``error_type`` instead of parsing FastAPI's assorted default shapes."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("stance.service")

ERROR_TYPES = ("validation", "too_large", "overloaded", "not_ready", "timeout", "bad_request", "not_found", "unauthorized", "client_closed", "internal")

# pydantic error types that mean "over a declared limit": answered 413, not 422
_TOO_LARGE = {"too_long", "string_too_long"}


class ServiceError(Exception):
    """An error with its HTTP status and ``error_type``; raised anywhere, rendered once."""

    status_code = 400
    error_type = "bad_request"

    def __init__(self, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers or {}


class BadRequest(ServiceError):
    status_code, error_type = 400, "bad_request"


class Unauthorized(ServiceError):
    status_code, error_type = 401, "unauthorized"


class NotFound(ServiceError):
    status_code, error_type = 404, "not_found"


class TooLarge(ServiceError):
    status_code, error_type = 413, "too_large"


class Overloaded(ServiceError):
    status_code, error_type = 429, "overloaded"


class Saturated(Overloaded):
    """``/readyz`` while the backlog is over ``max_wait_s``: not ready for more work (503), with the overload's type and Retry-After."""

    status_code = 503


class NotReady(ServiceError):
    status_code, error_type = 503, "not_ready"


class TimedOut(ServiceError):
    status_code, error_type = 503, "timeout"


class ClientGone(ServiceError):
    """The client hung up: nobody reads the answer (499, as nginx logs it), but the metrics count it."""

    status_code, error_type = 499, "client_closed"


def error_response(status_code: int, error_type: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message, "error_type": error_type}, status_code=status_code, headers=headers)


def error_type_for(status_code: int) -> str:
    if status_code == 401 or status_code == 403:
        return "unauthorized"
    if status_code == 404:
        return "not_found"
    if status_code == 413:
        return "too_large"
    if status_code == 422:
        return "validation"
    if status_code == 429:
        return "overloaded"
    if status_code == 503:
        return "not_ready"
    if status_code >= 500:
        return "internal"
    return "bad_request"


def describe_validation_errors(errors: Iterable[dict], *, limit: int = 3) -> str:
    """``inputs[3]: String should have at most 2000 characters``; union branch tags dropped."""
    parts = []
    for error in errors:
        loc = [part for part in error.get("loc", ()) if part != "body" and not _is_union_tag(part)]
        where = ""
        for part in loc:
            where += f"[{part}]" if isinstance(part, int) else (f".{part}" if where else str(part))
        message = "has nothing to score (only whitespace or zero-width characters)" if error.get("type") == "string_pattern_mismatch" else error.get("msg", "invalid value")
        text = f"{where}: {message}" if where else message
        if text not in parts:
            parts.append(text)
    more = f" (and {len(parts) - limit} more)" if len(parts) > limit else ""
    return "; ".join(parts[:limit]) + more if parts else "invalid request"


def _is_union_tag(part: object) -> bool:
    return isinstance(part, str) and (part in {"str", "list", "int", "float", "dict", "none"} or "[" in part or part.startswith("constrained-"))


def install_error_handlers(app: FastAPI) -> None:
    """Route every exception FastAPI or Starlette can raise through :func:`error_response`."""

    @app.exception_handler(ServiceError)
    async def _service_error(request: Request, error: ServiceError) -> JSONResponse:
        return error_response(error.status_code, error.error_type, error.message, error.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
        errors = list(error.errors())
        too_large = [e for e in errors if e.get("type") in _TOO_LARGE]
        if too_large:
            return error_response(413, "too_large", describe_validation_errors(too_large))
        return error_response(422, "validation", describe_validation_errors(errors))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        status = error.status_code
        message = error.detail if isinstance(error.detail, str) and error.detail else "error"
        if status == 404 and message == "Not Found":
            message = f"no route {request.url.path}"
        elif status == 405:
            message = f"method {request.method} is not allowed on {request.url.path}"
        return error_response(status, error_type_for(status), message, getattr(error, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, "internal", "internal server error")
