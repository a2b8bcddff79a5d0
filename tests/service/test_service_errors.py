"""Every failure answers with ``{"error", "error_type"}`` and the right status: 400, 404,
405, 413 (never 422 for a limit), 422, 500, 503."""

from __future__ import annotations

import threading

import pytest
from svc_helpers import GatedModel, running, wait_until

SENTENCE = "Serbia will never join NATO."


def assert_error(response, status: int, error_type: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "error_type"}, body
    assert body["error_type"] == error_type
    assert isinstance(body["error"], str) and body["error"]
    return body["error"]


@pytest.fixture
def small(make_app):
    app = make_app(max_inputs=3, max_input_chars=40, max_article_chars=200, max_body_bytes=2_000, max_targets=2)
    with running(app) as client:
        yield client


@pytest.mark.parametrize(
    ("path", "payload", "needle"),
    [
        ("/v1/predict", {"inputs": ["a", "b", "c", "d"]}, "at most 3"),
        ("/v1/predict", {"inputs": "x" * 41}, "at most 40 characters"),
        ("/v1/predict", {"inputs": ["ok", "x" * 41]}, "inputs[1]"),
        ("/v1/predict", {"inputs": "ok", "targets": ["nato", "eu", "west"]}, "at most 2"),
        ("/v1/analyze", {"text": "NATO. " * 40}, "at most 200 characters"),
    ],
)
def test_over_a_limit_is_413_not_422(small, path, payload, needle):
    message = assert_error(small.post(path, json=payload), 413, "too_large")
    assert needle in message


def test_413_for_a_large_body_declared_or_streamed(small):
    big = b'{"inputs": "' + b"a" * 5_000 + b'"}'
    message = assert_error(small.post("/v1/predict", content=big, headers={"content-type": "application/json"}), 413, "too_large")
    assert "STANCE_MAX_BODY_BYTES" in message

    def chunks():  # no Content-Length: the limit is enforced while reading
        yield b'{"inputs": "'
        for _ in range(10):
            yield b"a" * 500
        yield b'"}'

    assert_error(small.post("/v1/predict", content=chunks(), headers={"content-type": "application/json"}), 413, "too_large")
    # the server still answers normally afterwards
    assert small.post("/v1/predict", json={"inputs": "ok"}).status_code == 200


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"inputs": 5},
        {"inputs": [1, 2]},
        {"inputs": []},
        {"inputs": ""},
        {"inputs": "ok", "targets": []},
        {"inputs": "ok", "unexpected": True},
        {"text": "an analyze body sent to predict"},
    ],
)
def test_schema_errors_are_422(small, payload):
    assert_error(small.post("/v1/predict", json=payload), 422, "validation")


def test_invalid_json_is_422(small):
    response = small.post("/v1/predict", content=b'{"inputs": ', headers={"content-type": "application/json"})
    assert_error(response, 422, "validation")


def test_unknown_target_is_400(small):
    message = assert_error(small.post("/v1/predict", json={"inputs": SENTENCE, "targets": ["mars"]}), 400, "bad_request")
    assert "mars" in message and "nato" in message  # names the culprit and the known targets
    assert_error(small.post("/v1/analyze", json={"text": SENTENCE, "targets": ["nato", "moon"]}), 400, "bad_request")
    assert_error(small.post("/v1/predict", json={"inputs": SENTENCE, "targets": ["x" * 500]}), 400, "bad_request")


def test_unknown_route_and_wrong_method(small):
    assert_error(small.get("/v2/predict"), 404, "not_found")
    assert_error(small.get("/static/missing.js"), 404, "not_found")
    assert_error(small.get("/v1/predict"), 405, "bad_request")
    assert_error(small.post("/admin/reload", json={"model_dir": "x"}), 404, "not_found")


def test_model_errors_are_500_internal(make_app, tiny_model):
    class Broken:
        targets = tiny_model.targets
        settings = tiny_model.settings
        calls = 0

        def predict(self, texts, **kwargs):
            Broken.calls += 1
            if Broken.calls > 1:  # the warm-up at load time passes
                raise RuntimeError("boom")
            return tiny_model.predict(texts, **kwargs)

        def analyze_many(self, texts, **kwargs):  # the smoke test at load time
            return tiny_model.analyze_many(texts, **kwargs)

    with running(make_app(loader=lambda directory: Broken()), raise_server_exceptions=False) as client:
        message = assert_error(client.post("/v1/predict", json={"inputs": SENTENCE}), 500, "internal")
        assert "boom" not in message  # internals stay in the log
        assert client.get("/readyz").status_code == 200  # the worker survived


def test_503_until_the_model_is_loaded(make_app, tiny_model):
    gate = threading.Event()

    def slow_loader(directory):
        assert gate.wait(60)
        return tiny_model

    app = make_app(loader=slow_loader)
    with running(app, wait=False) as client:
        try:
            assert client.get("/livez").status_code == 200
            assert_error(client.get("/readyz"), 503, "not_ready")
            assert_error(client.post("/v1/predict", json={"inputs": SENTENCE}), 503, "not_ready")
            assert_error(client.post("/v1/analyze", json={"text": SENTENCE}), 503, "not_ready")
            assert_error(client.get("/v1/info"), 503, "not_ready")
        finally:
            gate.set()
        assert app.state.service.loaded.wait(60)
        assert client.get("/readyz").status_code == 200
        assert client.post("/v1/predict", json={"inputs": SENTENCE}).status_code == 200


def test_a_model_that_fails_to_load_stays_503_with_the_reason(make_app, tmp_path):
    from stance.service.loading import model_loader

    (tmp_path / "config.json").write_text("{}")  # a folder that looks like a model but is not one
    app = make_app(model_dir=tmp_path, loader=model_loader("torch"))
    with running(app) as client:
        message = assert_error(client.get("/readyz"), 503, "not_ready")
        assert "could not be loaded" in message and "stance" in message
        assert client.get("/livez").status_code == 200


def test_429_at_once_when_the_queue_is_full(make_app, tiny_model):
    """Queue of one: request A is held inside the model, B waits in the queue, C is refused."""
    gated = GatedModel(tiny_model)
    app = make_app(loader=lambda directory: gated, queue_size=1, max_batch=1, retry_after_s=3)
    with running(app) as client:
        batcher = app.state.service.batcher
        gated.close()
        results = {}

        def send(name):
            results[name] = client.post("/v1/predict", json={"inputs": f"{name}: NATO and Moscow."})

        a = threading.Thread(target=send, args=("A",))
        try:
            a.start()
            assert gated.entered.wait(30)  # A is in the model, the queue is empty
            b = threading.Thread(target=send, args=("B",))
            b.start()
            wait_until(lambda: batcher.depth == 1)  # B is queued: the queue is full
            refused = client.post("/v1/predict", json={"inputs": SENTENCE})
            assert_error(refused, 429, "overloaded")
            assert refused.headers["retry-after"] == "3"
            analyze_refused = client.post("/v1/analyze", json={"text": SENTENCE})
            assert_error(analyze_refused, 429, "overloaded")
        finally:
            gated.open()
            a.join(30)
        b.join(30)
        assert results["A"].status_code == 200 and results["B"].status_code == 200
        assert results["B"].json()["predictions"][0]["text"].startswith("B:")
        metrics = client.get("/metrics").text
        assert "stance_rejected_requests_total 2.0" in metrics


def test_an_unknown_target_is_400_before_taking_a_queue_slot(make_app, tiny_model):
    """With the queue full, a request naming an unknown target is still told 400 (not 429),
    and the model never sees it: the target check runs before the queue."""
    gated = GatedModel(tiny_model)
    app = make_app(loader=lambda directory: gated, queue_size=1, max_batch=1)
    with running(app) as client:
        batcher = app.state.service.batcher
        gated.close()
        gated.calls.clear()
        threads = [threading.Thread(target=lambda i=i: client.post("/v1/predict", json={"inputs": f"{i}: NATO"})) for i in range(2)]
        threads[0].start()
        try:
            assert gated.entered.wait(30)
            threads[1].start()
            wait_until(lambda: batcher.depth == 1)  # the queue is full
            for path, payload in (("/v1/predict", {"inputs": SENTENCE, "targets": ["mars"]}), ("/v1/analyze", {"text": SENTENCE, "targets": ["nato", "mars"]})):
                refused = client.post(path, json=payload)
                assert refused.status_code == 400 and "mars" in refused.json()["error"]
        finally:
            gated.open()
            for thread in threads:
                thread.join(30)
        assert gated.calls == [1, 1]
