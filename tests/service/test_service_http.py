"""The HTTP layer: one error shape even from the parser, deadlines for slow clients, a
connection cap, security headers and HEAD everywhere, no double-framed bodies, clear
input rules in the OpenAPI document. Socket tests run a real uvicorn on a free port."""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading
import time

import pytest
import uvicorn
from stance.service.server import OncePerInterval, uvicorn_config
from svc_helpers import running, settings_for

TOKEN = "test-token-123"


@pytest.fixture
def server(make_app, tiny_model_dir):
    """``server(**settings)``: a running uvicorn with the tiny model; yields its port."""
    started: list[uvicorn.Server] = []

    def start(**overrides) -> int:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        app = make_app(**overrides)
        server = uvicorn.Server(uvicorn_config(app, settings_for(tiny_model_dir, **overrides), host="127.0.0.1", port=port))
        server.config.log_level = "warning"
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 60
        while not (server.started and app.state.service.loaded.is_set()):
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.01)
        started.append(server)
        server.thread = thread
        return port

    yield start
    for server in started:
        server.should_exit = True
        server.thread.join(15)


def exchange(port: int, data: bytes, *, wait_s: float = 5.0) -> bytes:
    """Send raw bytes, return everything the server sends until it closes (or ``wait_s``)."""
    with socket.create_connection(("127.0.0.1", port), timeout=wait_s) as connection:
        if data:
            connection.sendall(data)
        chunks = []
        with contextlib.suppress(TimeoutError, ConnectionResetError):
            while chunk := connection.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks)


def body_of(raw: bytes) -> dict:
    return json.loads(raw.split(b"\r\n\r\n", 1)[1])


def test_a_malformed_request_gets_the_json_error_shape(server):
    port = server()
    raw = exchange(port, b"GARBAGE \x00\x01 nonsense\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 400")
    assert body_of(raw)["error_type"] == "bad_request"


def test_a_body_framed_twice_is_refused_on_the_wire(server):
    port = server()
    raw = exchange(port, b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5\r\n"
                         b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n")  # fmt: skip
    assert raw.startswith(b"HTTP/1.1 400")
    assert body_of(raw)["error_type"] == "bad_request"


def test_a_client_that_never_finishes_its_request_is_cut_off(server):
    port = server(read_timeout_s=0.5)
    started = time.monotonic()
    raw = exchange(port, b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"inp", wait_s=10)
    assert time.monotonic() - started < 5
    assert raw == b"" or not raw.startswith(b"HTTP/1.1 200")
    started = time.monotonic()
    raw = exchange(port, b"", wait_s=10)  # connects and sends nothing
    assert time.monotonic() - started < 5
    assert raw.startswith(b"HTTP/1.1 408") and body_of(raw)["error_type"] == "timeout"


def test_a_trickling_client_is_cut_off_too(server):
    port = server(read_timeout_s=0.6)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        started = time.monotonic()
        with contextlib.suppress(OSError):
            for byte in b"GET /livez HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 40:
                connection.sendall(bytes([byte]))
                time.sleep(0.1)  # each byte well within the deadline; the whole request is not
        with contextlib.suppress(OSError):
            assert connection.recv(65536).startswith(b"HTTP/1.1 408")
        assert time.monotonic() - started < 3


def test_connections_over_the_cap_are_refused_at_once_and_livez_still_answers(server):
    port = server(max_connections=3)
    held = [socket.create_connection(("127.0.0.1", port)) for _ in range(3)]
    try:
        time.sleep(0.2)
        raw = exchange(port, b"GET /livez HTTP/1.1\r\nHost: x\r\n\r\n")
        assert raw.startswith(b"HTTP/1.1 503") and body_of(raw)["error_type"] == "overloaded"
    finally:
        for connection in held:
            connection.close()
    time.sleep(0.2)
    assert exchange(port, b"GET /livez HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").startswith(b"HTTP/1.1 200")


def test_a_flood_of_one_error_logs_once_per_interval(caplog):
    logger = logging.getLogger("test.flood")
    limiter = OncePerInterval(interval_s=60)
    logger.addFilter(limiter)
    try:
        with caplog.at_level(logging.WARNING, logger="test.flood"):
            for _ in range(1000):
                logger.warning("socket.accept() out of system resource")
            logger.warning("another problem")
        assert [r.getMessage() for r in caplog.records] == ["socket.accept() out of system resource", "another problem"]
        limiter._last = {key: (time.monotonic() - 61, held) for key, (_, held) in limiter._last.items()}
        with caplog.at_level(logging.WARNING, logger="test.flood"):
            logger.warning("socket.accept() out of system resource")
        assert "999 more like this" in caplog.records[-1].getMessage()
    finally:
        logger.removeFilter(limiter)


def test_content_length_with_transfer_encoding_is_400(client):
    response = client.post(
        "/v1/predict", content=b'{"inputs": "NATO"}', headers={"Content-Length": "18", "Transfer-Encoding": "chunked", "Content-Type": "application/json"}
    )
    assert response.status_code == 400 and response.json()["error_type"] == "bad_request"


@pytest.mark.parametrize("path", ["/livez", "/readyz", "/v1/info", "/metrics", "/v1/example", "/nowhere"])
def test_security_headers_on_every_answer(client, path):
    headers = client.get(path).headers
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "no-referrer"
    if headers["content-type"].startswith("application/json"):
        assert headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"


def test_the_page_keeps_its_own_policy(client):
    assert "default-src 'self'" in client.get("/").headers["content-security-policy"]


@pytest.mark.parametrize("path", ["/", "/livez", "/readyz", "/v1/info"])
def test_head_is_answered_like_get_without_a_body(client, path):
    response = client.head(path)
    assert response.status_code == 200 and response.content == b""
    assert response.headers["content-type"] == client.get(path).headers["content-type"]


@pytest.mark.parametrize("text", [" \t\n ", "\u200b\u200b\u200c", "\u3000\ufeff\u00a0"])
def test_inputs_with_nothing_visible_are_422(client, text):
    for path, payload in (("/v1/predict", {"inputs": text}), ("/v1/predict", {"inputs": ["NATO", text]}), ("/v1/analyze", {"text": text})):
        response = client.post(path, json=payload)
        assert response.status_code == 422 and "nothing to score" in response.json()["error"]


def test_the_openapi_document_names_the_targets_and_the_offset_unit(client):
    schema = json.dumps(client.get("/openapi.json").json())
    for name in ("russia", "west", "eu", "nato"):
        assert f'"{name}"' in schema
    assert "code points" in schema


def test_reload_checks_the_token_before_reading_the_body(make_app, other_model_dir):
    with running(make_app(admin_token=TOKEN)) as client:
        garbage = client.post("/admin/reload", content=b"{not json", headers={"Content-Type": "application/json"})
        assert garbage.status_code == 401
        bad = client.post("/admin/reload", content=b"{not json", headers={"Authorization": f"Bearer {TOKEN}"})
        assert bad.status_code == 422 and bad.json()["error_type"] == "validation"
        good = client.post("/admin/reload", json={"model_dir": str(other_model_dir)}, headers={"Authorization": f"Bearer {TOKEN}"})
        assert good.status_code == 200 and good.json()["model"]["directory"] == str(other_model_dir)


def test_a_reload_to_a_model_that_answers_nan_is_refused(make_app, tiny_model, tiny_model_dir, tmp_path):
    from stance.models import StanceModel

    broken = StanceModel.from_pretrained(tiny_model_dir)
    broken.head_specs["stance"].temperature = 0.0  # every score NaN
    broken.save_pretrained(tmp_path / "nan-model")
    loads = {tiny_model_dir: tiny_model}

    def loader(directory):
        return loads.get(directory) or StanceModel.from_pretrained(directory)

    with running(make_app(admin_token=TOKEN, loader=loader)) as client:
        response = client.post("/admin/reload", json={"model_dir": str(tmp_path / "nan-model")}, headers={"Authorization": f"Bearer {TOKEN}"})
        assert response.status_code == 400 and "current model keeps serving" in response.json()["error"]
        assert client.post("/v1/predict", json={"inputs": "NATO"}).status_code == 200
