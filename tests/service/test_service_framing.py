"""Frames and narratives beside the stance in /v1/analyze and /v1/info: each task selectable,
label sets listed, and a server whose framing model is missing or broken still serving stance."""

from __future__ import annotations

import pytest
from stance.models.framing import ArticleReader
from stance.models.labelsets import default_labelset
from stance.service.schemas import AnalyzeResponse, InfoResponse
from svc_helpers import running

EXCERPT_PARAGRAPHS = 5


@pytest.fixture
def framing_client(make_app, tiny_framing_dirs):
    app = make_app(frames_model_dir=str(tiny_framing_dirs["frames"]), narratives_model_dir=str(tiny_framing_dirs["narratives"]), runtime="torch")
    with running(app) as client:
        yield client


def excerpt(article: str) -> str:
    return "\n\n".join(article.split("\n\n")[:EXCERPT_PARAGRAPHS])


def test_analyze_returns_frames_and_narratives_beside_the_stance(framing_client, seed_article, tiny_model, tiny_framing_dirs):
    text = excerpt(seed_article)
    response = framing_client.post("/v1/analyze", json={"text": text})
    assert response.status_code == 200, response.text
    body = response.json()
    AnalyzeResponse.model_validate(body)
    assert body["tasks"] == ["stance", "frames", "narratives"]
    assert body["framing_models"] == {"frames": {"name": "tiny-frames", "version": "3"}, "narratives": {"name": "tiny-narratives", "version": "3"}}
    assert body["summary"].keys() == set(tiny_model.targets) and all("stance" in s for s in body["sentences"])
    (expected,) = ArticleReader.load(tiny_framing_dirs.values()).analyze_many([text])
    for task in ("frames", "narratives"):
        assert list(body[task]["scores"]) == list(default_labelset(task).labels)
        assert body[task]["labels"] == expected[task].labels
        assert body[task]["scores"] == pytest.approx(expected[task].scores, abs=1e-5)
        for label, evidence in body[task]["evidence"].items():
            assert [e["index"] for e in evidence] == expected[task].evidence[label]
            assert all(body["sentences"][e["index"]]["text"] == e["text"] == text[e["start"] : e["end"]] for e in evidence)


def test_each_task_is_selectable(framing_client, seed_article):
    text = excerpt(seed_article)
    body = framing_client.post("/v1/analyze", json={"text": text, "tasks": ["narratives"]}).json()
    AnalyzeResponse.model_validate(body)
    assert body["tasks"] == ["narratives"] and "frames" not in body and "summary" not in body and "targets" not in body
    assert all(set(s) == {"index", "start", "end", "text"} for s in body["sentences"])
    body = framing_client.post("/v1/analyze", json={"text": text, "tasks": ["stance"], "targets": ["nato"]}).json()
    assert body["tasks"] == ["stance"] and "narratives" not in body and list(body["summary"]) == ["nato"]
    wrong = framing_client.post("/v1/analyze", json={"text": text, "tasks": ["moods"]})
    assert wrong.status_code == 422
    assert framing_client.post("/v1/analyze", json={"text": text, "tasks": []}).status_code == 422


def test_info_lists_the_label_sets_and_the_framing_models(framing_client, tiny_framing_dirs):
    info = framing_client.get("/v1/info").json()
    InfoResponse.model_validate(info)
    tasks = info["tasks"]
    assert tasks["stance"] == {"available": True}
    for task in ("frames", "narratives"):
        labelset = default_labelset(task)
        assert tasks[task]["available"] is True
        assert tasks[task]["model"]["name"] == f"tiny-{task}" and tasks[task]["model"]["version"] == "3"
        assert tasks[task]["model"]["directory"] == str(tiny_framing_dirs[task]) and tasks[task]["model"]["frozen_encoder"] is True
        assert [entry["name"] for entry in tasks[task]["labels"]] == list(labelset.labels)
        assert all(entry["description"] == labelset.descriptions[entry["name"]] for entry in tasks[task]["labels"])
    assert tasks["narratives"]["fallback"] == "Other" and tasks["frames"]["fallback"] is None


def test_a_missing_framing_model_leaves_the_rest_serving(make_app, tiny_framing_dirs, tmp_path, seed_article):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{}", encoding="utf-8")
    app = make_app(frames_model_dir=str(broken), narratives_model_dir=str(tiny_framing_dirs["narratives"]), runtime="torch")
    with running(app) as client:
        assert client.get("/readyz").status_code == 200
        frames = client.get("/v1/info").json()["tasks"]["frames"]
        assert frames["available"] is False and str(broken) in frames["reason"]
        body = client.post("/v1/analyze", json={"text": excerpt(seed_article)}).json()
        assert body["tasks"] == ["stance", "narratives"]  # the default: every task that is served
        refused = client.post("/v1/analyze", json={"text": excerpt(seed_article), "tasks": ["frames", "stance"]})
        assert refused.status_code == 400
        assert refused.json()["error_type"] == "bad_request" and "no model loaded for frames" in refused.json()["error"]
        assert str(broken) in refused.json()["error"]


def test_framing_turned_off_is_said_in_info(client):
    tasks = client.get("/v1/info").json()["tasks"]
    assert tasks["frames"] == {"available": False, "reason": "turned off (STANCE_FRAMES_MODEL_DIR=off)"}
    assert client.post("/v1/analyze", json={"text": "NATO met.", "tasks": ["frames"]}).status_code == 422  # not offered by this server's schema
