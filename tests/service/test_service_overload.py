"""Nothing one client sends can stall the others: admission by work with a bounded wait,
a sentence cap checked before splitting, a deadline per request, no work for clients that
left, and a /readyz that says when the server is saturated. Held with a gated model."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Iterator

import pytest
from stance.service.batching import Batcher
from stance.service.errors import NotReady, Overloaded
from stance.service.loading import LoadedModel
from svc_helpers import GatedModel, running, wait_until

SENTENCE = "Serbia will never join NATO."


@contextlib.contextmanager
def holding(client, gated: GatedModel) -> Iterator[None]:
    """One request held inside the model for the duration; then released and answered."""
    gated.close()
    gated.calls.clear()
    holder = threading.Thread(target=lambda: client.post("/v1/predict", json={"inputs": "held: NATO"}))
    holder.start()
    try:
        assert gated.entered.wait(30)
        yield
    finally:
        gated.open()
        holder.join(30)


def loaded(model, pairs_per_second=None) -> LoadedModel:
    from pathlib import Path

    return LoadedModel(model=model, directory=Path("."), pairs_per_second=pairs_per_second)


def test_admission_is_by_work_and_retry_after_reflects_the_backlog(tiny_model):
    gated = GatedModel(tiny_model)

    async def scenario():
        batcher = Batcher(max_batch=64, batch_wait_s=0, queue_size=64, max_wait_s=2.0, retry_after_s=1)
        batcher.swap(loaded(gated, pairs_per_second=10.0))  # 10 pairs a second: 2 s is 20 pairs
        batcher.start()
        gated.close()
        held = asyncio.ensure_future(batcher.predict(["held NATO"], targets=["nato"], cost=1))
        while not gated.entered.is_set():
            await asyncio.sleep(0.001)
        first = asyncio.ensure_future(batcher.analyze("NATO. " * 3, targets=None, cost=12))  # 1.2 s of work: admitted
        await asyncio.sleep(0)
        assert batcher.depth == 1
        assert batcher.backlog_s() == pytest.approx(1.2, abs=0.15)
        with pytest.raises(Overloaded) as refused:  # 1.2 s ahead + 1.2 s of its own > 2 s, though the queue has room
            await batcher.analyze("NATO. " * 3, targets=None, cost=12)
        assert refused.value.headers == {"Retry-After": "2"}
        assert "STANCE_MAX_WAIT_S" in refused.value.message
        small = asyncio.ensure_future(batcher.predict(["NATO"], targets=["nato"], cost=4))  # 0.4 s: still fits
        await asyncio.sleep(0)
        assert batcher.depth == 2
        assert batcher.saturated is False
        gated.open()
        await asyncio.gather(held, first, small)
        assert batcher.pairs_per_second > 10.0  # measured on the batches that ran: the tiny model is fast
        await batcher.close()

    asyncio.run(scenario())


class FakeClock:
    """The batcher's clock, moved by the test: estimates depend on no real timing."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def _until(condition) -> None:
    for _ in range(10_000):
        if condition():
            return
        await asyncio.sleep(0.001)
    raise AssertionError("the batcher never got there")


async def _holding_ten_pairs(gated: GatedModel, clock: FakeClock) -> tuple[Batcher, asyncio.Future]:
    """A batcher measured at 10 pairs a second with a 2 s bound, and a batch of 10 pairs (1 s) held in the model from now."""
    batcher = Batcher(max_batch=64, batch_wait_s=0, queue_size=64, max_wait_s=2.0, retry_after_s=1, clock=clock)
    batcher.swap(loaded(gated, pairs_per_second=10.0))
    batcher.start()
    gated.close()
    held = asyncio.ensure_future(batcher.predict(["held NATO"], targets=["nato"], cost=10))
    await _until(gated.entered.is_set)
    return batcher, held


def test_a_late_request_may_not_stretch_the_wait_of_the_batch_it_joins(tiny_model):
    """The article admitted first is answered when the batch it is in ends; a later article that
    would join that batch and push it past the first one's bound is refused, though its own wait fits."""
    gated, clock = GatedModel(tiny_model), FakeClock()

    async def scenario():
        batcher, held = await _holding_ten_pairs(gated, clock)
        first = asyncio.ensure_future(batcher.analyze("NATO. " * 3, targets=None, cost=5))  # done at 1.5 s: admitted
        await asyncio.sleep(0)
        clock.now += 0.9  # 0.1 s of the running batch left, 0.5 s queued
        assert batcher.backlog_s() == pytest.approx(0.6)
        with pytest.raises(Overloaded) as refused:  # alone it would be done in 0.6 + 1.2 s, but the first would wait 2.7 s
            await batcher.analyze("NATO. " * 3, targets=None, cost=12)
        assert refused.value.headers == {"Retry-After": "1"}
        assert "2.7s after its first request" in refused.value.message
        small = asyncio.ensure_future(batcher.analyze("NATO. ", targets=None, cost=4))  # the shared batch ends at 1.9 s: fits
        await asyncio.sleep(0)
        assert batcher.depth == 2
        gated.open()
        await asyncio.gather(held, first, small)
        assert gated.calls == [1, -2], "the two admitted articles were not scored in one batch"
        await batcher.close()

    asyncio.run(scenario())


def test_a_running_batch_past_its_estimate_slows_the_estimate_at_once(tiny_model):
    gated, clock = GatedModel(tiny_model), FakeClock()

    async def scenario():
        batcher, held = await _holding_ten_pairs(gated, clock)
        clock.now += 2.0  # still running after 2 s: the machine does 5 pairs a second now, not 10
        with pytest.raises(Overloaded):  # 12 pairs are 2.4 s at 5 a second (1.2 s at the stale 10)
            await batcher.analyze("NATO. " * 3, targets=None, cost=12)
        admitted = asyncio.ensure_future(batcher.analyze("NATO. " * 3, targets=None, cost=9))  # 1.8 s
        await asyncio.sleep(0)
        assert batcher.depth == 1 and batcher.backlog_s() == pytest.approx(1.8)
        gated.open()
        await asyncio.gather(held, admitted)
        await batcher.close()

    asyncio.run(scenario())


def test_the_batch_being_filled_counts_as_work_ahead(tiny_model):
    """While the worker waits ``batch_wait_s`` for more requests, those it already took are ahead of a new one."""
    clock = FakeClock()

    async def scenario():
        batcher = Batcher(max_batch=64, batch_wait_s=30, queue_size=64, max_wait_s=2.0, retry_after_s=1, clock=clock)
        batcher.swap(loaded(tiny_model, pairs_per_second=10.0))
        batcher.start()
        first = asyncio.ensure_future(batcher.analyze("NATO. " * 3, targets=None, cost=15))  # the model is idle: admitted
        await asyncio.sleep(0)
        await _until(lambda: batcher.depth == 0)  # the worker took it and waits for more
        assert batcher.backlog_s() == pytest.approx(1.5)
        with pytest.raises(Overloaded) as refused:
            await batcher.analyze("NATO. ", targets=None, cost=10)
        assert refused.value.headers == {"Retry-After": "2"}
        await batcher.close()
        with pytest.raises(NotReady):  # the job in the batch being filled is failed on close, not left hanging
            await first

    asyncio.run(scenario())


def test_one_request_alone_is_always_admitted(tiny_model):
    async def scenario():
        batcher = Batcher(max_batch=64, batch_wait_s=0, queue_size=4, max_wait_s=0.5)
        batcher.swap(loaded(tiny_model, pairs_per_second=1.0))
        batcher.start()
        predictions, _ = await batcher.predict(["NATO and Moscow."], targets=None, cost=100)  # 100 s by the estimate, nothing ahead
        assert len(predictions) == 1
        await batcher.close()

    asyncio.run(scenario())


def test_an_article_over_the_sentence_cap_is_413_before_any_work(make_app, tiny_model):
    gated = GatedModel(tiny_model)
    app = make_app(loader=lambda directory: gated, max_article_sentences=100)
    with running(app) as client:
        gated.calls.clear()
        started = time.perf_counter()
        response = client.post("/v1/analyze", json={"text": "NATO. " * 8000})  # 48 KB, under the character limit
        assert time.perf_counter() - started < 5  # splitting it would take seconds
        assert response.status_code == 413 and response.json()["error_type"] == "too_large"
        assert "8000 sentences" in response.json()["error"] and "STANCE_MAX_ARTICLE_SENTENCES" in response.json()["error"]
        assert gated.calls == []
        assert client.post("/v1/analyze", json={"text": "NATO. " * 50}).status_code == 200


def test_a_request_past_its_deadline_is_503_and_never_computed(make_app, tiny_model):
    gated = GatedModel(tiny_model)
    app = make_app(loader=lambda directory: gated, request_timeout_s=0.5, max_batch=1)
    with running(app) as client:
        with holding(client, gated):
            late = client.post("/v1/predict", json={"inputs": "late: NATO and Moscow"})
            assert late.status_code == 503 and late.json()["error_type"] == "timeout"
            assert "STANCE_REQUEST_TIMEOUT_S" in late.json()["error"] and "retry-after" in late.headers
        assert client.post("/v1/predict", json={"inputs": "next: NATO"}).status_code == 200
        assert gated.calls == [1, 1], "the timed-out request was computed"


async def post_and_hang_up(app, path: str, payload: dict) -> list[dict]:
    """POST straight to the ASGI app, hang up once the job is queued; returns what was sent back."""
    body = json.dumps(payload).encode()
    messages = [{"type": "http.request", "body": body, "more_body": False}]
    queued = asyncio.Event()
    sent: list[dict] = []

    async def receive():
        if messages:
            return messages.pop(0)
        await queued.wait()
        return {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
        "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80),
    }  # fmt: skip
    call = asyncio.ensure_future(app(scope, receive, send))
    while app.state.service.batcher.depth == 0:
        await asyncio.sleep(0.001)
    queued.set()
    await call
    return sent


def test_a_client_that_hangs_up_is_never_computed(make_app, tiny_model):
    gated = GatedModel(tiny_model)
    app = make_app(loader=lambda directory: gated, max_batch=1)
    with running(app) as client:
        with holding(client, gated):
            sent = client.portal.call(post_and_hang_up, app, "/v1/predict", {"inputs": ["gone 1: NATO", "gone 2: Moscow"]})
            assert sent[0]["status"] == 499
        assert client.post("/v1/predict", json={"inputs": "next: NATO"}).status_code == 200
        assert gated.calls == [1, 1], "the request of a client that hung up was computed"


def test_readyz_reports_saturation(make_app, tiny_model):
    gated = GatedModel(tiny_model)
    app = make_app(loader=lambda directory: gated, max_wait_s=1.0, max_batch=1)
    with running(app) as client:
        batcher = app.state.service.batcher
        ready = client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["backlog_s"] == 0
        with holding(client, gated):
            queued = threading.Thread(target=lambda: client.post("/v1/predict", json={"inputs": "queued: NATO"}))
            queued.start()
            wait_until(lambda: batcher.depth == 1)
            batcher.pairs_per_second = 1.0  # as if measured on a slow machine: the queued request's 4 pairs take 4 s
            busy = client.get("/readyz")
            assert busy.status_code == 503 and busy.json()["error_type"] == "overloaded"
            assert "saturated" in busy.json()["error"] and int(busy.headers["retry-after"]) >= 4
            shed = client.post("/v1/predict", content=b"{not even json", headers={"Content-Type": "application/json"})
            assert shed.status_code == 429 and int(shed.headers["retry-after"]) >= 4  # refused before the body is read
            assert client.get("/livez").status_code == 200
        queued.join(30)
