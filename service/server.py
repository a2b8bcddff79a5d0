"""The HTTP server around the app: uvicorn, with what it lacks against slow or abusive
clients. uvicorn times out idle keep-alive connections but not a client that sends half a
request and waits, and it accepts connections until the process runs out of file
descriptors; this module adds a deadline for reading a whole request, a cap on open
connections, JSON for the errors its HTTP parser answers, and log lines that a flood of
failing connections cannot multiply (once per interval, with a count)."""

from __future__ import annotations

import asyncio
import json
import logging
import resource
import threading
import time
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger("stance.service")

LOG_INTERVAL_S = 10.0
FD_RESERVE = 64  # descriptors kept for the model, logs and the listening socket


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a request deadline and a connection cap (class attributes,
    set by :func:`guarded_protocol`)."""

    read_timeout_s: float = 10.0
    max_connections: int = 512

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._read_deadline: asyncio.TimerHandle | None = None
        super().connection_made(transport)
        if len(self.connections) > self.max_connections:
            log.warning("connection refused: %d connections open, the limit is %d (STANCE_MAX_CONNECTIONS)", len(self.connections), self.max_connections)
            self._answer(503, "overloaded", f"too many open connections (limit {self.max_connections}); retry shortly", retry_after=1)
            return
        self._watch_reading()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._watch_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_watching()
        super().connection_lost(exc)

    def send_400_response(self, msg: str) -> None:
        self._stop_watching()
        self._answer(400, "bad_request", f"malformed HTTP request: {msg}")

    def _watch_reading(self) -> None:
        """A deadline runs from a request's first byte (or the connection) until its body is
        complete: not reset by each byte, so a client trickling bytes is cut off too."""
        reading = self.conn.their_state in (h11.IDLE, h11.SEND_BODY) and not self.transport.is_closing()
        if self.conn.their_state is h11.IDLE and self.timeout_keep_alive_task is not None:
            reading = False  # idle between requests: uvicorn's keep-alive timeout applies
        if reading and self._read_deadline is None:
            self._read_deadline = self.loop.call_later(self.read_timeout_s, self._read_timed_out)
        elif not reading:
            self._stop_watching()

    def _stop_watching(self) -> None:
        deadline, self._read_deadline = getattr(self, "_read_deadline", None), None
        if deadline is not None:
            deadline.cancel()

    def _read_timed_out(self) -> None:
        self._read_deadline = None
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete and self.conn.their_state is h11.SEND_BODY:
            self.cycle.disconnected = True  # the app waiting on the body sees a disconnect
            self.cycle.message_event.set()
        if self.conn.our_state is h11.IDLE:  # no answer started: say why the connection closes
            self._answer(408, "timeout", f"the request was not received within {self.read_timeout_s:g}s (STANCE_READ_TIMEOUT_S)")
        else:
            self.transport.close()

    def _answer(self, status: int, error_type: str, message: str, *, retry_after: int | None = None) -> None:
        """A JSON error in the service's one shape, then close: written straight to the socket,
        since the parser is in error or no request was read."""
        body = json.dumps({"error": message, "error_type": error_type}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), (b"connection", b"close")]
        if retry_after is not None:
            headers.append((b"retry-after", str(retry_after).encode()))
        reason = {400: b"Bad Request", 408: b"Request Timeout", 503: b"Service Unavailable"}[status]
        head = b"HTTP/1.1 %d %s\r\n" % (status, reason) + b"".join(name + b": " + value + b"\r\n" for name, value in headers)
        self.transport.write(head + b"\r\n" + body)
        self.transport.close()


def guarded_protocol(*, read_timeout_s: float, max_connections: int) -> type[GuardedH11Protocol]:
    return type("StanceH11Protocol", (GuardedH11Protocol,), {"read_timeout_s": read_timeout_s, "max_connections": max_connections})


class OncePerInterval(logging.Filter):
    """Lets each distinct message template through once per ``interval_s``; the next one that
    passes says how many were held back. A flood of failing accepts or malformed requests
    then costs a line per interval, not a traceback per event."""

    def __init__(self, interval_s: float = LOG_INTERVAL_S) -> None:
        super().__init__()
        self.interval_s = interval_s
        self._last: dict[Any, tuple[float, int]] = {}
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, record.levelno, str(record.msg))
        now = time.monotonic()
        with self._lock:
            last, held = self._last.get(key, (float("-inf"), 0))
            if now - last < self.interval_s:
                self._last[key] = (last, held + 1)
                return False
            self._last[key] = (now, 0)
        if held:
            record.msg = f"{record.msg} ({held} more like this in the last {self.interval_s:g}s not logged)"
        return True


RATE_LIMITED_LOGGERS = ("asyncio", "uvicorn.error", "stance.service")


def install_log_limits(interval_s: float = LOG_INTERVAL_S) -> OncePerInterval:
    limiter = OncePerInterval(interval_s)
    for name in RATE_LIMITED_LOGGERS:
        logging.getLogger(name).addFilter(limiter)
    return limiter


def reserve_file_descriptors(max_connections: int) -> int:
    """Raise the soft descriptor limit toward the hard one so ``max_connections`` fit with a
    reserve; returns the connection cap that fits (lowered, with a warning, if the limit is low)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = max_connections + FD_RESERVE
    if soft != resource.RLIM_INFINITY and soft < wanted:
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    if soft != resource.RLIM_INFINITY and soft < wanted:
        fitted = max(1, soft - FD_RESERVE)
        log.warning("only %d file descriptors: serving at most %d connections, not %d", soft, fitted, max_connections)
        return fitted
    return max_connections


def uvicorn_config(app: Any, settings: Any, *, host: str, port: int):
    import uvicorn

    install_log_limits()
    max_connections = reserve_file_descriptors(settings.max_connections)
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="info",
        timeout_graceful_shutdown=10,
        timeout_keep_alive=max(1, round(settings.keep_alive_s)),
        http=guarded_protocol(read_timeout_s=settings.read_timeout_s, max_connections=max_connections),
    )
