"""Concurrent requests share model calls: held with a gated model so the batches that
form are known exactly, not hoped for."""

from __future__ import annotations

import asyncio
import threading

import pytest
from stance.service.batching import Batcher
from stance.service.errors import BadRequest, NotReady, Overloaded
from stance.service.loading import LoadedModel
from svc_helpers import GatedModel, running, wait_until


def hold_then_queue(client, app, gated, payloads):
    """Send one request that the model holds, queue ``payloads`` behind it in order,
    release, and return the answers (first the held one)."""
    batcher = app.state.service.batcher
    answers: dict[int, object] = {}

    def send(i, payload):
        answers[i] = client.post(payload[0], json=payload[1])

    gated.close()
    gated.calls.clear()
    threads = [threading.Thread(target=send, args=(0, ("/v1/predict", {"inputs": "held: NATO"})))]
    try:
        threads[0].start()
        assert gated.entered.wait(30)
        for i, payload in enumerate(payloads, start=1):
            threads.append(threading.Thread(target=send, args=(i, payload)))
            threads[-1].start()
            wait_until(lambda i=i: batcher.depth == i)  # queued in this order
    finally:
        gated.open()
        for thread in threads:
            thread.join(30)
    return [answers[i] for i in range(len(threads))]


def test_waiting_requests_are_scored_in_one_model_call(make_app, tiny_model):
    gated = GatedModel(tiny_model)
    app = make_app(loader=lambda directory: gated, max_batch=64, batch_wait_ms=5)
    with running(app) as client:
        inputs = [[f"Moscow {i}.", f"NATO {i}."] for i in range(6)]
        answers = hold_then_queue(client, app, gated, [("/v1/predict", {"inputs": pair}) for pair in inputs])
        assert all(a.status_code == 200 for a in answers)
        assert gated.calls == [1, 12]  # the held sentence, then all six requests together
        for answer, pair in zip(answers[1:], inputs, strict=True):
            assert [p["text"] for p in answer.json()["predictions"]] == pair  # each gets its own back
            expected = tiny_model.predict(pair)
            got = answer.json()["predictions"]
            assert got[1]["stance"]["nato"]["scores"]["favor"] == pytest.approx(expected[1].stance["nato"].scores["favor"], abs=1e-5)
        metrics = client.get("/metrics").text
        assert "stance_batch_requests_bucket{le=\"8.0\"} 2.0" in metrics  # two batches of at most 8 requests


def test_max_batch_caps_sentences_per_call(make_app, tiny_model):
    gated = GatedModel(tiny_model)
    app = make_app(loader=lambda directory: gated, max_batch=3, batch_wait_ms=0)
    with running(app) as client:
        answers = hold_then_queue(client, app, gated, [("/v1/predict", {"inputs": f"NATO {i}."}) for i in range(5)])
        assert all(a.status_code == 200 for a in answers)
        assert gated.calls == [1, 3, 2]


def test_different_target_lists_are_scored_separately_in_one_batch(make_app, tiny_model):
    """A sentence's voice averages over the targets asked for, so target lists never mix."""
    gated = GatedModel(tiny_model)
    app = make_app(loader=lambda directory: gated)
    with running(app) as client:
        sentence = "NATO and Moscow and Brussels."
        payloads = [
            ("/v1/predict", {"inputs": sentence, "targets": ["nato"]}),
            ("/v1/predict", {"inputs": sentence}),
            ("/v1/predict", {"inputs": sentence, "targets": ["nato"]}),
        ]
        answers = hold_then_queue(client, app, gated, payloads)
        assert sorted(gated.calls[1:]) == [1, 2]  # one call for ["nato"] (two requests), one for all
        only_nato, everything, _ = (a.json()["predictions"][0] for a in answers[1:])
        assert list(only_nato["stance"]) == ["nato"] and list(everything["stance"]) == ["russia", "west", "eu", "nato"]
        assert only_nato["voice"]["score"] == pytest.approx(tiny_model.predict([sentence], targets=["nato"])[0].voice.score, abs=1e-5)
        assert everything["voice"]["score"] == pytest.approx(tiny_model.predict([sentence])[0].voice.score, abs=1e-5)


def test_waiting_articles_share_one_call_and_never_mix_with_sentences(make_app, tiny_model, seed_article):
    gated = GatedModel(tiny_model)
    app = make_app(loader=lambda directory: gated)
    with running(app) as client:
        payloads = [
            ("/v1/predict", {"inputs": "NATO 1."}),
            ("/v1/analyze", {"text": seed_article}),
            ("/v1/analyze", {"text": "NATO met. Moscow objected."}),
            ("/v1/predict", {"inputs": "NATO 2."}),
        ]
        answers = hold_then_queue(client, app, gated, payloads)
        assert [a.status_code for a in answers] == [200] * 5
        assert gated.calls == [1, 1, -2, 1]  # predict, the two articles together, then the next predict
        assert len(answers[2].json()["sentences"]) > 15
        short = answers[3].json()
        assert [s["text"] for s in short["sentences"]] == ["NATO met.", "Moscow objected."]
        expected = tiny_model.analyze("NATO met. Moscow objected.")
        assert short["sentences"][0]["stance"]["nato"]["scores"] == pytest.approx(expected.sentences[0].stance["nato"].scores, abs=1e-5)


def test_articles_share_a_call_up_to_max_article_chars(make_app, tiny_model, seed_article):
    gated = GatedModel(tiny_model)
    app = make_app(loader=lambda directory: gated, max_article_chars=len(seed_article) + 15)
    with running(app) as client:
        payloads = [("/v1/analyze", {"text": seed_article}), ("/v1/analyze", {"text": "NATO met."}), ("/v1/analyze", {"text": "NATO left."})]
        answers = hold_then_queue(client, app, gated, payloads)
        assert [a.status_code for a in answers] == [200] * 4
        assert gated.calls == [1, -2, -1]  # the seed article and one short one fit; the third waits


# ---- the batcher alone -------------------------------------------------------------------


def run(coroutine):
    return asyncio.run(coroutine)


def loaded(model) -> LoadedModel:
    from pathlib import Path

    return LoadedModel(model=model, directory=Path("."))


def test_batcher_refuses_before_a_model_and_after_close(tiny_model):
    async def scenario():
        batcher = Batcher(max_batch=4, batch_wait_s=0.001, queue_size=2)
        batcher.start()
        with pytest.raises(NotReady):
            await batcher.predict(["NATO."], targets=None)
        batcher.swap(loaded(tiny_model))
        predictions, served_by = await batcher.predict(["NATO."], targets=["nato"])
        assert list(predictions[0].stance) == ["nato"] and served_by.model is tiny_model
        await batcher.close()
        with pytest.raises(NotReady):
            await batcher.predict(["NATO."], targets=None)

    run(scenario())


def test_batcher_queue_bound_and_skips_cancelled_requests(tiny_model):
    gated = GatedModel(tiny_model)

    async def scenario():
        batcher = Batcher(max_batch=1, batch_wait_s=0, queue_size=2, retry_after_s=7)
        batcher.swap(loaded(gated))
        batcher.start()
        gated.close()
        held = asyncio.ensure_future(batcher.predict(["held NATO"], targets=None))
        while not gated.entered.is_set():
            await asyncio.sleep(0.001)
        gone = asyncio.ensure_future(batcher.predict(["gone NATO"], targets=None))
        kept = asyncio.ensure_future(batcher.predict(["kept NATO"], targets=None))
        await asyncio.sleep(0)
        assert batcher.depth == 2
        with pytest.raises(Overloaded) as refused:
            await batcher.predict(["refused"], targets=None)
        assert refused.value.headers == {"Retry-After": "7"}
        gone.cancel()  # a client that hung up: its sentence is never scored
        gated.open()
        await held
        predictions, _ = await kept
        assert predictions[0].text == "kept NATO"
        assert gated.calls == [1, 1]
        await batcher.close()

    run(scenario())


def test_batcher_turns_unknown_targets_after_a_swap_into_400(tiny_model):
    async def scenario():
        batcher = Batcher(max_batch=4, batch_wait_s=0, queue_size=4)
        batcher.swap(loaded(tiny_model))
        batcher.start()
        with pytest.raises(BadRequest, match="mars"):
            await batcher.predict(["NATO."], targets=["mars"])
        await batcher.close()

    run(scenario())
