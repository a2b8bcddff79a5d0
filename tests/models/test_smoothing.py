"""SmoothQuant for the all-int8 export: the same function in torch, the outliers moved into the
weights, the measured ranges saved with the model, and an export closer to torch with them."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from conftest_corpus import CORPUS
from safetensors.torch import load_file
from stance.models import StanceModel
from stance.models.config import WEIGHTS_NAME
from stance.models.smoothing import OUTLIER_RATIO, ffn_layers, measure_ffn_inputs, smoothed_ffn_outputs

SENTENCES = CORPUS[:24]


def _logits(model: StanceModel) -> np.ndarray:
    return model.batched_logits(SENTENCES, ["Russia"] * len(SENTENCES))["stance"]


def _with_outlier_channel(model: StanceModel) -> StanceModel:
    """Channel 3 of each layer's GELU output made far larger than the others (as in all-mpnet-base-v2's
    middle layers), and the FFN output weighing more in the residual stream than at random init."""
    with torch.no_grad():
        for layer in ffn_layers(model.backbone.encoder):
            layer.intermediate.dense.weight[3] *= 200
            layer.intermediate.dense.bias[3] = 4.0
            layer.output.dense.weight *= 5
    return model


def test_measured_ranges_are_the_largest_ffn_inputs(tiny_model_dir):
    model = StanceModel.from_pretrained(tiny_model_dir)
    encoder = model.backbone.encoder
    seen = []
    hook = ffn_layers(encoder)[1].output.dense.register_forward_pre_hook(lambda _m, inputs: seen.append(inputs[0].abs().amax((0, 1))))
    try:
        measured = measure_ffn_inputs(encoder, lambda: _logits(model))
    finally:
        hook.remove()
    assert measured.shape == (2, 64)  # layers, intermediate size of the tiny encoder
    torch.testing.assert_close(measured[1], torch.stack(seen).amax(0))
    with pytest.raises(ValueError, match="ran no sentence"):
        measure_ffn_inputs(encoder, lambda: None)


def test_smoothing_keeps_the_function_and_moves_the_outliers_into_the_weights(tiny_model_dir):
    model = _with_outlier_channel(StanceModel.from_pretrained(tiny_model_dir))
    encoder = model.backbone.encoder
    weights = [layer.output.dense.weight.detach().clone() for layer in ffn_layers(encoder)]
    activations = [layer.intermediate.intermediate_act_fn for layer in ffn_layers(encoder)]
    before = _logits(model)
    input_max = measure_ffn_inputs(encoder, lambda: _logits(model))
    assert (input_max[:, 3] > 10 * input_max.median(1).values).all()

    with smoothed_ffn_outputs(encoder, input_max):
        np.testing.assert_allclose(_logits(model), before, atol=1e-4)  # the same function
        smoothed = measure_ffn_inputs(encoder, lambda: _logits(model))
        moved = [layer.output.dense.weight for layer in ffn_layers(encoder)]
        assert not any(torch.equal(w, original) for w, original in zip(moved, weights, strict=True))
    spread = lambda ranges: (ranges.amax(1) / ranges.median(1).values).max()  # noqa: E731
    assert spread(smoothed) < spread(input_max) / 3
    for layer, original, activation in zip(ffn_layers(encoder), weights, activations, strict=True):  # put back exactly
        assert torch.equal(layer.output.dense.weight, original)
        assert layer.intermediate.intermediate_act_fn is activation
    with pytest.raises(ValueError, match="do not fit"), smoothed_ffn_outputs(encoder, input_max[:1]):
        pass


def test_layers_without_outlier_channels_are_left_alone(tiny_model_dir):
    model = StanceModel.from_pretrained(tiny_model_dir)  # random weights: no channel far above the rest
    encoder = model.backbone.encoder
    input_max = measure_ffn_inputs(encoder, lambda: _logits(model))
    assert (input_max.amax(1) < OUTLIER_RATIO * input_max.median(1).values).all()
    weights = [layer.output.dense.weight.detach().clone() for layer in ffn_layers(encoder)]
    with smoothed_ffn_outputs(encoder, input_max):
        assert all(torch.equal(layer.output.dense.weight, w) for layer, w in zip(ffn_layers(encoder), weights, strict=True))


def test_measured_ranges_are_saved_with_the_weights(tiny_model_dir, tmp_path):
    model = StanceModel.from_pretrained(tiny_model_dir)
    assert model.ffn_input_max is None
    model.measure_ffn_inputs(SENTENCES)
    model.save_pretrained(tmp_path / "measured")
    assert load_file(str(tmp_path / "measured" / WEIGHTS_NAME))["ffn_input_max"].shape == (2, 64)
    loaded = StanceModel.from_pretrained(tmp_path / "measured")
    torch.testing.assert_close(loaded.ffn_input_max, model.ffn_input_max)
    np.testing.assert_allclose(_logits(loaded), _logits(model), atol=1e-5)
    # a model loaded without them (as after training, then measured) writes them beside the weights it copies
    plain = StanceModel.from_pretrained(tiny_model_dir)
    plain._weights_file = tiny_model_dir / WEIGHTS_NAME
    plain.measure_ffn_inputs(SENTENCES)
    plain.save_pretrained(tmp_path / "copied")
    torch.testing.assert_close(StanceModel.from_pretrained(tmp_path / "copied").ffn_input_max, plain.ffn_input_max)


def test_all_int8_export_is_smoothed_and_closer_to_torch(tiny_model_dir, tmp_path, monkeypatch):
    pytest.importorskip("onnxruntime")
    onnx = pytest.importorskip("onnx")
    from stance.models import onnx_runtime

    # 8-bit weights, as on a VNNI CPU: with 7 (an AVX2-only CPU) the tiny model's outlier costs int8 too little to halve
    monkeypatch.setattr(onnx_runtime, "int8_products_saturate", lambda: False)
    model_dir = shutil.copytree(tiny_model_dir, tmp_path / "model", ignore=shutil.ignore_patterns("onnx"))
    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    config["options"]["int8_ffn_output"] = True
    (model_dir / "config.json").write_text(json.dumps(config), encoding="utf-8")
    _with_outlier_channel(StanceModel.from_pretrained(model_dir)).save_pretrained(model_dir)
    torch_logits = _logits(StanceModel.from_pretrained(model_dir))

    plain = StanceModel.from_pretrained(model_dir, runtime="onnx")
    measured = StanceModel.from_pretrained(model_dir)
    measured.measure_ffn_inputs(SENTENCES)
    measured.save_pretrained(tmp_path / "measured")
    smoothed = StanceModel.from_pretrained(tmp_path / "measured", runtime="onnx")
    assert smoothed.runtime.path != plain.runtime.path

    def scaling_nodes(path) -> int:
        return sum(node.op_type == "Mul" for node in onnx.load(str(path)).graph.node)

    assert scaling_nodes(smoothed.runtime.path) == scaling_nodes(plain.runtime.path) + 2  # one a layer
    plain_error = np.abs(_logits(plain) - torch_logits).mean()
    smoothed_error = np.abs(_logits(smoothed) - torch_logits).mean()
    assert smoothed_error < plain_error / 2, (smoothed_error, plain_error)
    with pytest.raises(ValueError, match="torch runtime"):
        smoothed.measure_ffn_inputs(SENTENCES)
