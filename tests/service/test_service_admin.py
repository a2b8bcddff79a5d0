"""``POST /admin/reload``: off without a token, 401 with a wrong one, a bad folder leaves
the old model serving, and a swap lets the request in flight finish on the old model."""

from __future__ import annotations

import threading

import pytest
from stance.models import StanceModel
from stance.service.loading import model_loader
from svc_helpers import GatedModel, running

TOKEN = "test-token-123"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SENTENCE = "Serbia will never join NATO and will maintain its close ties with Moscow."


def test_reload_is_off_without_a_token(make_app, other_model_dir):
    with running(make_app(admin_token=None)) as client:
        response = client.post("/admin/reload", json={"model_dir": str(other_model_dir)}, headers=AUTH)
        assert response.status_code == 404 and response.json()["error_type"] == "not_found"
        assert client.get("/readyz").json()["model"]["version"] == "0"


def test_the_token_comes_from_the_environment(monkeypatch, tiny_model_dir):
    from stance.service.app import create_app

    monkeypatch.setenv("STANCE_ADMIN_TOKEN", TOKEN)
    monkeypatch.setenv("STANCE_MODEL_DIR", str(tiny_model_dir))
    app = create_app()
    assert app.state.service.settings.admin_token == TOKEN
    assert any(getattr(route, "path", None) == "/admin/reload" for route in app.routes)


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}, {"Authorization": f"Basic {TOKEN}"}],
)
def test_a_wrong_or_missing_token_is_401(make_app, other_model_dir, headers):
    with running(make_app(admin_token=TOKEN)) as client:
        response = client.post("/admin/reload", json={"model_dir": str(other_model_dir)}, headers=headers)
        assert response.status_code == 401
        assert response.json()["error_type"] == "unauthorized"
        assert response.headers["www-authenticate"] == "Bearer"
        # checked before the body: a stranger gets 401, not a schema lesson
        assert client.post("/admin/reload", json={"nonsense": 1}, headers=headers).status_code == 401
        assert client.get("/readyz").json()["model"]["version"] == "0"


@pytest.mark.parametrize("kind", ["missing", "not a model", "broken weights"])
def test_a_bad_folder_is_400_and_the_old_model_keeps_serving(make_app, tiny_model_dir, tmp_path, kind):
    folder = tmp_path / "candidate"
    if kind == "not a model":
        folder.mkdir()
    elif kind == "broken weights":
        folder.mkdir()
        for name in ("config.json", "targets.json", "tokenizer.json", "tokenizer_config.json"):
            source = tiny_model_dir / name
            if source.exists():
                (folder / name).write_bytes(source.read_bytes())
        (folder / "model.safetensors").write_bytes(b"not weights")
    app = make_app(admin_token=TOKEN, loader=model_loader("torch"))
    with running(app) as client:
        before = client.post("/v1/predict", json={"inputs": SENTENCE}).json()
        response = client.post("/admin/reload", json={"model_dir": str(folder)}, headers=AUTH)
        assert response.status_code == 400, response.text
        body = response.json()
        assert body["error_type"] == "bad_request"
        assert str(folder) in body["error"] and "keeps serving" in body["error"]
        after = client.post("/v1/predict", json={"inputs": SENTENCE}).json()
        assert after == before
        assert 'stance_model_reloads_total{outcome="failed"} 1.0' in client.get("/metrics").text


def test_a_swap_serves_the_new_model_afterwards(make_app, other_model_dir, tiny_model_dir):
    app = make_app(admin_token=TOKEN, loader=model_loader("torch"))
    with running(app) as client:
        old = client.post("/v1/predict", json={"inputs": SENTENCE}).json()
        assert old["model"] == {"name": "stance-model", "version": "0"}
        response = client.post("/admin/reload", json={"model_dir": str(other_model_dir)}, headers=AUTH)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["model"]["version"] == "2" and body["previous"]["version"] == "0"
        assert body["model"]["directory"] == str(other_model_dir)

        new = client.post("/v1/predict", json={"inputs": SENTENCE}).json()
        assert new["model"] == {"name": "tiny-other", "version": "2"}
        expected = StanceModel.from_pretrained(other_model_dir).predict([SENTENCE])[0]
        nato = new["predictions"][0]["stance"]["nato"]
        assert nato["label"] == "against" == expected.stance["nato"].label
        assert nato["scores"]["against"] == pytest.approx(expected.stance["nato"].scores["against"], abs=1e-5)
        assert nato["scores"] != old["predictions"][0]["stance"]["nato"]["scores"]

        info = client.get("/v1/info").json()
        assert info["model"]["version"] == "2" and info["metrics"]["overall"]["macro_f1"] == 0.4
        assert client.get("/readyz").json()["model"]["version"] == "2"
        metrics = client.get("/metrics").text
        assert 'stance_model_info{name="tiny-other",version="2"} 1.0' in metrics
        assert 'name="stance-model"' not in metrics.split("stance_model_info")[-1]


def test_a_request_in_flight_during_the_swap_completes_on_the_old_model(make_app, tiny_model, other_model_dir):
    gated = GatedModel(tiny_model)

    def loader(directory):
        return StanceModel.from_pretrained(directory) if directory == other_model_dir else gated

    app = make_app(admin_token=TOKEN, loader=loader)
    with running(app) as client:
        gated.close()
        in_flight = {}
        thread = threading.Thread(target=lambda: in_flight.update(answer=client.post("/v1/predict", json={"inputs": SENTENCE})))
        try:
            thread.start()
            assert gated.entered.wait(30)  # the request is inside the old model
            # the new model loads outside the inference worker, so the swap completes now
            swap = client.post("/admin/reload", json={"model_dir": str(other_model_dir)}, headers=AUTH)
            assert swap.status_code == 200 and swap.json()["model"]["version"] == "2"
            assert thread.is_alive()  # still held: nothing was dropped or restarted
        finally:
            gated.open()
            thread.join(30)
        answer = in_flight["answer"]
        assert answer.status_code == 200
        assert answer.json()["model"]["version"] == "0"  # finished on the model it started with
        expected_old = tiny_model.predict([SENTENCE])[0].stance["nato"].scores["against"]
        assert answer.json()["predictions"][0]["stance"]["nato"]["scores"]["against"] == pytest.approx(expected_old, abs=1e-5)
        after = client.post("/v1/predict", json={"inputs": SENTENCE}).json()
        assert after["model"]["version"] == "2"
        assert after["predictions"][0]["stance"]["nato"]["label"] == "against"


def test_a_reload_never_exports_onnx_inside_the_server(tiny_model_dir, other_model_dir, tmp_path):
    pytest.importorskip("onnxruntime")
    import shutil

    from stance.service.app import create_app
    from svc_helpers import settings_for

    serving = shutil.copytree(tiny_model_dir, tmp_path / "serving")
    fresh = shutil.copytree(other_model_dir, tmp_path / "fresh", ignore=shutil.ignore_patterns("onnx"))
    with running(create_app(settings_for(serving, admin_token=TOKEN, runtime="onnx"))) as client:
        refused = client.post("/admin/reload", json={"model_dir": str(fresh)}, headers=AUTH)
        assert refused.status_code == 400, refused.text
        assert "no ONNX export" in refused.json()["error"] and "keeps serving" in refused.json()["error"]
        assert not (fresh / "onnx").exists()
        StanceModel.from_pretrained(fresh, runtime="onnx")  # the export, outside the server, as the README says
        response = client.post("/admin/reload", json={"model_dir": str(fresh)}, headers=AUTH)
        assert response.status_code == 200, response.text
        assert response.json()["model"]["runtime"] == "onnx"
