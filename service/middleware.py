"""Plain ASGI middleware: request metrics and the body size limit. Plain ASGI rather than
``BaseHTTPMiddleware`` so request bodies stream through and the route template is known."""

from __future__ import annotations

import time
from collections.abc import Callable

from fastapi import HTTPException
from stance.service.errors import error_response
from stance.service.metrics import ServiceMetrics
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class MetricsMiddleware:
    """Counts and times every HTTP request by route template (``/v1/predict``, never raw
    paths, so unknown URLs cannot blow up label cardinality)."""

    def __init__(self, app: ASGIApp, *, metrics: ServiceMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "<unmatched>"
            method = scope.get("method", "")
            self.metrics.requests.labels(method=method, route=template, status=str(status)).inc()
            self.metrics.latency.labels(method=method, route=template).observe(time.perf_counter() - started)


class BodyLimitMiddleware:
    """413 for bodies over ``max_bytes``: at once from ``Content-Length``, else while
    streaming (chunked uploads), before the JSON is parsed."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            response = error_response(413, "too_large", self._message(declared))
            await response(scope, receive, send)  # the body is never read, so never buffered
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # FastAPI re-raises HTTPException from body reading; the error handler renders it.
                    raise HTTPException(status_code=413, detail=self._message(received))
            return message

        await self.app(scope, limited_receive, send)

    def _message(self, size: int) -> str:
        return f"request body of {size} bytes is over the limit of {self.max_bytes} bytes (STANCE_MAX_BODY_BYTES)"


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None



# Sent with every answer; the page adds its own Content-Security-Policy (PAGE_HEADERS in app.py).
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-resource-policy", b"same-origin"),
]
# JSON answers load nothing and are framed by nobody.
JSON_POLICY = (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'")


class HttpHygieneMiddleware:
    """What the HTTP layer owes every request: security headers on every answer (not only
    the page), ``HEAD`` wherever ``GET`` is served, and a 400 for a body framed twice
    (``Content-Length`` and ``Transfer-Encoding``: the shape of request smuggling)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        names = {name for name, _ in scope.get("headers", ())}
        head = scope["method"] == "HEAD"

        async def send_safely(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                headers += [(name, value) for name, value in SECURITY_HEADERS if name not in present]
                json_answer = any(name.lower() == b"content-type" and value.startswith(b"application/json") for name, value in headers)
                if json_answer and b"content-security-policy" not in present:
                    headers.append(JSON_POLICY)
                message = {**message, "headers": headers}
            elif message["type"] == "http.response.body" and head:
                message = {**message, "body": b""}
            await send(message)

        if b"content-length" in names and b"transfer-encoding" in names:
            response = error_response(
                400, "bad_request", "a request may not carry both Content-Length and Transfer-Encoding", headers={"Connection": "close"}
            )
            await response(scope, receive, send_safely)
            return
        if head:
            scope = {**scope, "method": "GET"}
        await self.app(scope, receive, send_safely)


class LoadSheddingMiddleware:
    """429 before the body is read when the model's backlog is already over the bound: under a
    flood, refusing must cost the event loop (and the GIL the model thread needs) next to nothing.
    ``retry_after()`` returns the seconds to advertise when shedding, else None."""

    def __init__(self, app: ASGIApp, *, paths: frozenset[str], retry_after: Callable[[], int | None]) -> None:
        self.app = app
        self.paths = paths
        self.retry_after = retry_after

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] in self.paths:
            seconds = self.retry_after()
            if seconds is not None:
                message = f"the model is saturated (over STANCE_MAX_WAIT_S of work waiting); retry after {seconds}s"
                response = error_response(429, "overloaded", message, headers={"Retry-After": str(seconds)})
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
