"""The public routes over the tiny model: shapes, numbers that must hold whatever the
weights (probabilities sum to 1, labels are the argmax, offsets slice the text), and that
the server returns exactly what the model computes."""

from __future__ import annotations

import math

import pytest
from prometheus_client.parser import text_string_to_metric_families
from stance.models import STANCE_LABELS, VOICE_LABELS, split_sentences
from stance.service.schemas import AnalyzeResponse, InfoResponse, PredictResponse
from svc_helpers import running

NATO_SENTENCE = "Serbia will never join NATO and will maintain its close ties with Moscow and Beijing."


def check_stance(result: dict) -> None:
    scores = result["scores"]
    assert set(scores) == set(STANCE_LABELS)
    assert math.isclose(sum(scores.values()), 1.0, abs_tol=1e-4)
    assert all(0.0 <= p <= 1.0 for p in scores.values())
    assert result["label"] == max(scores, key=scores.get)


def test_livez_and_readyz(client):
    assert client.get("/livez").json() == {"status": "alive"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["model"] == {"name": "stance-model", "version": "0"}


def test_predict_one_sentence_matches_the_model(client, tiny_model):
    response = client.post("/v1/predict", json={"inputs": NATO_SENTENCE})
    assert response.status_code == 200
    body = response.json()
    PredictResponse.model_validate(body)
    assert body["model"] == {"name": "stance-model", "version": "0"}
    [prediction] = body["predictions"]
    assert prediction["text"] == NATO_SENTENCE
    assert list(prediction["stance"]) == list(tiny_model.targets)
    for result in prediction["stance"].values():
        check_stance(result)
    assert prediction["voice"]["label"] in VOICE_LABELS
    assert 0.5 <= prediction["voice"]["score"] <= 1.0

    [expected] = tiny_model.predict([NATO_SENTENCE])
    for name, result in prediction["stance"].items():
        assert result["label"] == expected.stance[name].label
        assert result["scored"] == expected.stance[name].scored
        for label in STANCE_LABELS:
            assert result["scores"][label] == pytest.approx(expected.stance[name].scores[label], abs=1e-5)
    assert prediction["voice"]["label"] == expected.voice.label
    # a lone sentence has no article window to gate on: every target is scored
    assert all(result["scored"] for result in prediction["stance"].values())


def test_predict_many_with_chosen_targets(client, tiny_model):
    inputs = ["Putin said the West was hostile to Russia.", NATO_SENTENCE, "The weather in Belgrade was mild on Monday."]
    response = client.post("/v1/predict", json={"inputs": inputs, "targets": ["nato", "russia"]})
    assert response.status_code == 200
    predictions = response.json()["predictions"]
    assert [p["text"] for p in predictions] == inputs
    expected = tiny_model.predict(inputs, targets=["nato", "russia"])
    for got, want in zip(predictions, expected, strict=True):
        assert list(got["stance"]) == ["nato", "russia"]
        for name, result in got["stance"].items():
            check_stance(result)
            assert result["scores"]["against"] == pytest.approx(want.stance[name].scores["against"], abs=1e-5)
        assert got["voice"]["score"] == pytest.approx(want.voice.score, abs=1e-5)


def test_analyze_the_seed_article(client, seed_article, tiny_model):
    response = client.post("/v1/analyze", json={"text": seed_article})
    assert response.status_code == 200
    body = response.json()
    AnalyzeResponse.model_validate(body)
    assert body["targets"] == list(tiny_model.targets)
    sentences = body["sentences"]
    assert len(sentences) == len(split_sentences(seed_article)) > 15
    for i, sentence in enumerate(sentences):
        assert sentence["index"] == i
        assert seed_article[sentence["start"] : sentence["end"]] == sentence["text"]
        for result in sentence["stance"].values():
            check_stance(result)
    assert any("Serbia will never join NATO" in s["text"] for s in sentences)
    for name, summary in body["summary"].items():
        labels = [s["stance"][name]["label"] for s in sentences]
        assert summary["counts"] == {label: labels.count(label) for label in STANCE_LABELS}
        concerned = [s["stance"][name]["scores"] for s in sentences if s["stance"][name]["label"] != "none"]
        assert summary["mentions"] == len(concerned)
        expected_score = sum(p["favor"] - p["against"] for p in concerned) / len(concerned) if concerned else 0.0
        assert summary["score"] == pytest.approx(expected_score, abs=1e-5)
        for evidence in summary["evidence"]:
            sentence = sentences[evidence["index"]]
            assert evidence["text"] == sentence["text"]
            assert evidence["label"] in ("favor", "against") and sentence["stance"][name]["label"] == evidence["label"]


def test_analyze_one_target(client):
    text = "NATO's secretary general welcomed Finland. The weather was mild."
    body = client.post("/v1/analyze", json={"text": text, "targets": ["nato"]}).json()
    assert body["targets"] == ["nato"] and list(body["summary"]) == ["nato"]
    assert [s["text"] for s in body["sentences"]] == ["NATO's secretary general welcomed Finland.", "The weather was mild."]
    assert all(list(s["stance"]) == ["nato"] for s in body["sentences"])


def test_info(client, tiny_model_dir):
    response = client.get("/v1/info")
    assert response.status_code == 200
    info = response.json()
    InfoResponse.model_validate(info)
    assert info["model"]["name"] == "stance-model" and info["model"]["version"] == "0"
    assert info["model"]["directory"] == str(tiny_model_dir)
    assert info["model"]["card"] == "tiny test model"
    assert "name_or_path" in info["model"]["encoder"]
    assert [t["name"] for t in info["targets"]] == ["russia", "west", "eu", "nato"]
    assert all(t["description"] for t in info["targets"])
    assert info["labels"] == {"stance": list(STANCE_LABELS), "voice": list(VOICE_LABELS)}
    assert info["limits"]["max_inputs"] == 64 and info["limits"]["max_batch"] == 64
    assert "admin_token" not in info["limits"]
    assert info["metrics"] is None  # the tiny model has no training_config.json
    assert info["model"]["runtime"] == "torch"
    assert info["model"]["gate"] == {"on": True, "window": [3, 2]}
    assert info["model"]["reader"] == "pair"


ONNX_ARTICLE = "NATO ministers met in Brussels.\nThe alliance condemned the Kremlin.\nRain fell.\nIt was cold.\nIt was late.\nThey left."


def test_the_onnx_runtime_serves_the_same_answers_as_in_process(make_app, tiny_model_dir, tmp_path):
    pytest.importorskip("onnxruntime")
    import shutil

    from stance.models import StanceModel
    from stance.service.loading import model_loader

    model_dir = shutil.copytree(tiny_model_dir, tmp_path / "model")
    app = make_app(model_dir=model_dir, loader=model_loader("onnx"))
    with running(app) as client:
        info = client.get("/v1/info").json()
        body = client.post("/v1/analyze", json={"text": ONNX_ARTICLE}).json()
    assert info["model"]["runtime"] == "onnx"
    expected = StanceModel.from_pretrained(model_dir, runtime="onnx").analyze(ONNX_ARTICLE)  # reuses the export
    assert [s["text"] for s in body["sentences"]] == [s.text for s in expected.sentences]
    for got, want in zip(body["sentences"], expected.sentences, strict=True):
        for name, result in got["stance"].items():
            assert result["scored"] == want.stance[name].scored
            assert result["scores"] == pytest.approx(want.stance[name].scores, abs=1e-5)


def test_a_sentence_reader_model_is_served_as_in_process(make_app, tiny_encoder, tmp_path):
    from stance.models import StanceModel
    from stance.models.sentence_reader import SentenceStanceModel
    from stance.service.loading import model_loader

    model_dir = SentenceStanceModel.from_encoder(str(tiny_encoder), lora_rank=4, max_length=32).save_pretrained(tmp_path / "sentence")
    app = make_app(model_dir=model_dir, loader=model_loader("torch"))
    with running(app) as client:
        info = client.get("/v1/info").json()
        body = client.post("/v1/analyze", json={"text": ONNX_ARTICLE}).json()
    assert info["model"]["reader"] == "sentence"
    expected = StanceModel.from_pretrained(model_dir).analyze(ONNX_ARTICLE)
    for got, want in zip(body["sentences"], expected.sentences, strict=True):
        for name, result in got["stance"].items():
            assert result["scores"] == pytest.approx(want.stance[name].scores, abs=1e-5)


def test_info_shows_dev_metrics_from_the_model_folder(make_app, other_model_dir):
    from stance.service.loading import model_loader

    app = make_app(model_dir=other_model_dir, loader=model_loader("torch"))
    with running(app) as client:
        info = client.get("/v1/info").json()
    assert info["model"]["version"] == "2"
    assert info["metrics"]["overall"]["macro_f1"] == 0.4


def test_metrics_count_requests_batches_and_model_time(client):
    client.post("/v1/predict", json={"inputs": ["NATO expands.", "Moscow objects."]})
    client.post("/v1/analyze", json={"text": "NATO expands. Moscow objects. Brussels waits."})
    client.get("/nope")
    response = client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    assert samples[("stance_http_requests_total", (("method", "POST"), ("route", "/v1/predict"), ("status", "200")))] == 1
    assert samples[("stance_http_requests_total", (("method", "GET"), ("route", "<unmatched>"), ("status", "404")))] == 1
    assert samples[("stance_http_request_duration_seconds_count", (("method", "POST"), ("route", "/v1/analyze")))] == 1
    assert samples[("stance_batch_sentences_count", ())] == 2
    assert samples[("stance_batch_sentences_sum", ())] == 2 + 3
    assert samples[("stance_queue_wait_seconds_count", ())] == 2
    assert samples[("stance_inference_seconds_count", (("kind", "predict"),))] == 1
    assert samples[("stance_inference_seconds_count", (("kind", "analyze"),))] == 1
    assert samples[("stance_model_info", (("name", "stance-model"), ("version", "0")))] == 1
    assert samples[("stance_queue_depth", ())] == 0


def test_page_static_files_and_example(client, seed_article):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "/static/app.js" in page.text and "default-src 'self'" in page.headers["content-security-policy"]
    for asset in ("/static/app.js", "/static/style.css", "/static/favicon.svg"):
        assert client.get(asset).status_code == 200
    assert client.get("/v1/example").json() == {"text": seed_article}
    for name in ("index.html", "app.js", "style.css"):
        text = client.get(f"/static/{name}").text if name != "index.html" else page.text
        assert "http://" not in text and "https://" not in text, f"{name} must not load anything from elsewhere"


def test_docs_work_offline_and_show_seed_examples(client):
    docs = client.get("/docs")
    assert docs.status_code == 200
    assert "cdn" not in docs.text.lower() and "https://" not in docs.text
    spec = client.get("/openapi.json").json()
    predict = spec["paths"]["/v1/predict"]["post"]
    examples = predict["requestBody"]["content"]["application/json"]["examples"]
    assert any("Serbia will never join NATO" in str(example["value"]) for example in examples.values())
    analyze_examples = spec["paths"]["/v1/analyze"]["post"]["requestBody"]["content"]["application/json"]["examples"]
    assert any("Patrushev" in example["value"]["text"] for example in analyze_examples.values())
    assert {"200", "400", "413", "422", "429", "503"} <= set(predict["responses"])
    assert "/admin/reload" not in spec["paths"]  # no token: no admin route


def test_docs_fall_back_to_a_built_in_page_without_swagger_files(make_app, monkeypatch):
    import stance.service.docs

    monkeypatch.setattr(stance.service.docs, "swagger_assets", lambda: None)
    with running(make_app()) as client:
        docs = client.get("/docs")
        assert docs.status_code == 200 and "/static/docs.js" in docs.text
        assert "https://" not in docs.text
        assert client.get("/static/docs.js").status_code == 200
        assert client.get("/docs-assets/swagger-ui.css").status_code == 404
