"""A model folder with a bad setting fails when it loads, naming the folder and the field,
and an ONNX export is only used for the weights it came from."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from stance.models import StanceModel
from stance.models.validation import ConfigError

SENTENCE = "Serbia will never join NATO."


def folder_with(tiny_model_dir, tmp_path, **stance_changes):
    folder = tmp_path / "model"
    shutil.copytree(tiny_model_dir, folder)
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    config["stance"].update(stance_changes)
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    return folder


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"stance_temperature": 0}, "stance_temperature"),
        ({"stance_temperature": -1}, "stance_temperature"),
        ({"voice_temperature": "1"}, "voice_temperature"),
        ({"gate_prior": {"none": 0}}, "gate_prior"),
        ({"gate_prior": {"maybe": 1.0}}, "gate_prior"),
        ({"gate_window": [3]}, "gate_window"),
        ({"gate_window": "3:2"}, "gate_window"),
        ({"max_length": 100_000}, "max_length"),
        ({"gate": "yes"}, "gate"),
        ({"lora": {"r": 16, "alpha": 32, "dropout": 0.0}, "encoder": {"name_or_path": "some-org/some-hub-model"}}, "encoder"),
    ],
)
def test_a_bad_setting_fails_at_load_naming_folder_and_field(tiny_model_dir, tmp_path, changes, field):
    folder = folder_with(tiny_model_dir, tmp_path, **changes)
    with pytest.raises(ConfigError) as error:
        StanceModel.from_pretrained(folder)
    assert str(folder / "config.json") in str(error.value) and f"stance.{field}" in str(error.value)


def test_cli_reports_a_bad_setting_instead_of_writing_nan(tiny_model_dir, tmp_path, capsys):
    from jsonl_rows import write_jsonl

    from stance.cli import main

    folder = folder_with(tiny_model_dir, tmp_path, stance_temperature=0)
    source = write_jsonl(tmp_path / "rows.jsonl", [{"text": SENTENCE}])
    output = tmp_path / "scored.jsonl"
    assert main(["predict", "--model", str(folder), "--input", str(source), "--output", str(output), "--runtime", "torch"]) == 2
    assert "stance.stance_temperature" in capsys.readouterr().err
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
        other.stance_head.bias.copy_(torch.tensor([0.0, 9.0, 0.0, 0.0]))  # other weights, same folder
    other.save_pretrained(folder / "new")
    shutil.copytree(folder / ONNX_DIR, folder / "new" / ONNX_DIR)  # the old export beside the new weights, no metadata
    served = StanceModel.from_pretrained(folder / "new", runtime="onnx")
    assert served.predict(SENTENCE).stance["nato"].label == "against", "the other model's export served these weights"
    assert (folder / "new" / ONNX_DIR / META_NAME).is_file()
