"""config.json: the current form round-trips, the first form (a ``stance`` section, fixed heads)
is read with the same predictions, and ``migrate_folder`` rewrites it in place."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file
from stance.models import StanceModel
from stance.models.config import FORMAT_VERSION, LEGACY_WEIGHT_PREFIXES, migrate_folder, read_config
from stance.models.core import FFN_INPUT_MAX
from stance.models.heads import HeadSpec
from stance.models.runtimes import RUNTIMES, check_runtime, resolve_runtime

SENTENCES = ["Serbia will never join NATO.", "Putin said the West was hostile to Russia.", "Brussels praised the bloc."]


def _write_first_form(directory) -> None:
    """Rewrite a current folder as the first format wrote it: the model's fields in a ``stance``
    section, both temperatures there, ``voice_labels``, and the old weight names."""
    config = json.loads((directory / "config.json").read_text(encoding="utf-8"))
    heads = {head["name"]: head for head in config.pop("heads")}
    backbone, options = config.pop("backbone"), config.pop("options")
    for key in ("format_version", "task", "problem_type"):
        config.pop(key)
    config["voice_labels"] = heads["voice"]["labels"]
    config["stance"] = {
        "encoder": backbone["encoder"],
        "max_length": backbone["max_length"],
        "lora": backbone["lora"],
        "stance_temperature": heads["stance"]["temperature"],
        "voice_temperature": heads["voice"]["temperature"],
        **options,
        "model_name": config.pop("model_name"),
        "model_version": config.pop("model_version"),
    }
    (directory / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    old_names = {new: old for old, new in LEGACY_WEIGHT_PREFIXES.items()}
    weights = load_file(str(directory / "model.safetensors"))
    renamed = {}
    for key, value in weights.items():
        prefix = next(p for p in old_names if key.startswith(p))
        renamed[old_names[prefix] + key.removeprefix(prefix)] = value
    save_file(renamed, str(directory / "model.safetensors"))


def _scores(model: StanceModel) -> np.ndarray:
    predictions = model.predict(SENTENCES)
    return np.array([[p.stance[t].scores[label] for t in p.stance for label in p.stance[t].scores] + [p.voice.score] for p in predictions])


@pytest.fixture
def calibrated_dir(tiny_model_dir, tmp_path):
    """The tiny model with temperatures and a gate prior that are not the defaults."""
    model = StanceModel.from_pretrained(tiny_model_dir)
    model.head_specs["stance"].temperature = 1.7
    model.head_specs["voice"].temperature = 0.6
    model.settings.gate_prior = {"neutral": 1.0, "none": 3.0}
    model.settings.model_version = "4.2"
    return model.save_pretrained(tmp_path / "current")


def test_the_first_form_loads_with_the_same_predictions_and_migrates_in_place(calibrated_dir, tmp_path):
    current = StanceModel.from_pretrained(calibrated_dir)
    old = shutil.copytree(calibrated_dir, tmp_path / "old")
    _write_first_form(old)
    config, _ = read_config(old)
    assert config.legacy and config.task == "stance"
    legacy = StanceModel.from_pretrained(old)
    assert legacy.head_specs == current.head_specs and legacy.settings == current.settings
    np.testing.assert_allclose(_scores(legacy), _scores(current), atol=1e-6)

    assert migrate_folder(old) is True
    raw = json.loads((old / "config.json").read_text(encoding="utf-8"))
    assert raw["format_version"] == FORMAT_VERSION and "stance" not in raw and "voice_labels" not in raw
    assert raw == json.loads((calibrated_dir / "config.json").read_text(encoding="utf-8"))
    assert load_file(str(old / "model.safetensors")).keys() == load_file(str(calibrated_dir / "model.safetensors")).keys()
    np.testing.assert_allclose(_scores(StanceModel.from_pretrained(old)), _scores(current), atol=1e-6)
    assert migrate_folder(old) is False  # already current
    assert sorted(p.name for p in old.iterdir() if p.name.startswith(".")) == []  # no staged files left


def test_a_loaded_first_form_model_saves_in_the_current_form(calibrated_dir, tmp_path):
    old = shutil.copytree(calibrated_dir, tmp_path / "old")
    _write_first_form(old)
    saved = StanceModel.from_pretrained(old).save_pretrained(tmp_path / "saved")
    assert read_config(saved)[0].legacy is False
    assert all(key.startswith(("backbone.", "heads.")) for key in load_file(str(saved / "model.safetensors")))


def test_a_newer_format_or_another_task_is_refused(calibrated_dir, tmp_path):
    directory = shutil.copytree(calibrated_dir, tmp_path / "model")
    raw = json.loads((directory / "config.json").read_text(encoding="utf-8"))
    (directory / "config.json").write_text(json.dumps({**raw, "format_version": FORMAT_VERSION + 1}), encoding="utf-8")
    with pytest.raises(ValueError, match="format_version"):
        StanceModel.from_pretrained(directory)
    (directory / "config.json").write_text(json.dumps({**raw, "task": "frames"}), encoding="utf-8")
    with pytest.raises(ValueError, match="'frames' model, not a 'stance' model"):
        StanceModel.from_pretrained(directory)
    heads = [*raw["heads"][:1], {"name": "voice", "labels": ["author"], "activation": "sigmoid"}]
    (directory / "config.json").write_text(json.dumps({**raw, "heads": heads}), encoding="utf-8")
    with pytest.raises(ValueError, match="a stance model has the heads"):
        StanceModel.from_pretrained(directory)


# ---- heads ----------------------------------------------------------------------------


def test_softmax_and_sigmoid_heads_calibrate_and_decide():
    logits = np.array([[2.0, 0.0, -1.0], [-3.0, 1.0, 0.5]], dtype=np.float32)
    single = HeadSpec("topic", ("a", "b", "c"), temperature=2.0)
    probabilities = single.probabilities(logits)
    np.testing.assert_allclose(probabilities.sum(1), 1.0, atol=1e-6)
    np.testing.assert_allclose(probabilities[0], np.exp(logits[0] / 2) / np.exp(logits[0] / 2).sum(), atol=1e-6)
    assert single.decide(probabilities) == ["a", "b"]
    multi = HeadSpec("frames", ("a", "b", "c"), activation="sigmoid", thresholds={"b": 0.9})
    probabilities = multi.probabilities(logits)
    np.testing.assert_allclose(probabilities, 1 / (1 + np.exp(-logits)), atol=1e-6)
    assert multi.decide(probabilities) == [["a"], ["c"]]  # b reaches 0.73 < its 0.9; c's 0.62 passes 0.5
    assert HeadSpec.from_dict(multi.to_dict()) == multi


@pytest.mark.parametrize(
    "bad",
    [
        {"name": "Frames", "labels": ["a", "b"]},
        {"name": "x", "labels": ["a", "a"]},
        {"name": "x", "labels": ["a"]},
        {"name": "x", "labels": ["a", "b"], "activation": "relu"},
        {"name": "x", "labels": ["a", "b"], "temperature": 0},
        {"name": "x", "labels": ["a", "b"], "thresholds": {"a": 0.3}},
        {"name": "x", "labels": ["a", "b"], "activation": "sigmoid", "thresholds": {"c": 0.3}},
        {"labels": ["a", "b"]},
    ],
)
def test_malformed_heads_are_refused(bad):
    with pytest.raises(ValueError):
        HeadSpec.from_dict(bad)


# ---- runtimes -------------------------------------------------------------------------


def test_runtime_names_are_checked_in_one_place():
    assert RUNTIMES == ("auto", "torch", "onnx")
    assert check_runtime("onnx") == "onnx"
    assert resolve_runtime("torch") == "torch" and resolve_runtime("auto") in ("torch", "onnx")
    with pytest.raises(ValueError, match="STANCE_RUNTIME='gpu' is not a runtime"):
        check_runtime("gpu", setting="STANCE_RUNTIME")


def test_runtimes_config_and_settings_import_without_torch():
    code = (
        "import sys, stance.models.runtimes, stance.models.config, stance.models.heads, stance.service.settings, stance.cli; "
        "print('torch' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


@pytest.mark.parametrize("name", ["default", "minilm"])
def test_the_shipped_models_are_in_the_current_form(name):
    from stance.models.config import SHIPPED_MODELS

    config, raw = read_config(SHIPPED_MODELS[name])
    assert not config.legacy and raw["format_version"] == FORMAT_VERSION
    assert [head.name for head in config.heads] == ["stance", "voice"]
    own = ("queries",) if config.options.get("reader") == "sentence" else ()  # the sentence reader's learned target queries
    if config.options.get("int8_ffn_output"):
        own += (FFN_INPUT_MAX,)  # the ranges its all-int8 export smooths by
    keys = load_file(str(SHIPPED_MODELS[name] / "model.safetensors")).keys()
    assert all(key.startswith(("backbone.encoder.", "heads.", *own)) for key in keys)
    assert (FFN_INPUT_MAX in keys) == bool(config.options.get("int8_ffn_output"))
