"""The ONNX Runtime path gives the torch model's probabilities, and its export is cached."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

from conftest_corpus import CORPUS  # noqa: E402
from stance.models import StanceModel, onnx_runtime  # noqa: E402
from stance.models.backbone import RuntimeOnlyEncoder  # noqa: E402
from stance.models.config import WEIGHTS_NAME  # noqa: E402
from stance.models.onnx_runtime import (  # noqa: E402
    FP32_NAME,
    INT8_NAME,
    META_NAME,
    OnnxRuntime,
    export_onnx,
    model_fingerprint,
    onnx_path,
    use_onnx,
    user_cache_dir,
)

SENTENCES = CORPUS[:8]  # the tiny tokenizer knows these words


@pytest.fixture(scope="module")
def model(tiny_model_dir) -> StanceModel:
    return StanceModel.from_pretrained(tiny_model_dir)


@pytest.fixture(scope="module")
def pairs(model) -> tuple[list[str], list[str]]:
    texts = [s for s in SENTENCES for _ in model.targets]
    queries = [t.query for _ in SENTENCES for t in model.targets.values()]
    return texts, queries


@pytest.fixture(scope="module")
def torch_scores(model, pairs):
    model.runtime = None
    return model.score_pairs(*pairs, batch_size=8)


@pytest.fixture(scope="module")
def fp32_path(model, tmp_path_factory):
    return export_onnx(model, tmp_path_factory.mktemp("onnx") / "model.onnx", quantize=False)


def _scores_with(model, runtime, pairs):
    model.runtime = runtime
    try:
        return model.score_pairs(*pairs, batch_size=8)
    finally:
        model.runtime = None


def test_fp32_export_matches_torch(model, pairs, torch_scores, fp32_path):
    scores = _scores_with(model, OnnxRuntime(fp32_path, threads=1), pairs)
    assert list(scores) == ["stance", "voice", "windows"]
    stance, voice = scores["stance"], scores["voice"]
    np.testing.assert_allclose(stance, torch_scores["stance"], atol=1e-4)
    np.testing.assert_allclose(voice, torch_scores["voice"], atol=1e-4)


def test_the_onnx_runtime_reads_long_sentences_in_the_same_windows_as_torch(model, fp32_path):
    long_pairs = ([" ".join(SENTENCES) * 2, SENTENCES[0]], [model.targets["nato"].query] * 2)
    model.runtime = None
    expected = model.score_pairs(*long_pairs)
    scores = _scores_with(model, OnnxRuntime(fp32_path, threads=1), long_pairs)
    assert list(scores["windows"]) == list(expected["windows"]) and scores["windows"][0] > 1
    np.testing.assert_allclose(scores["stance"], expected["stance"], atol=1e-4)


def test_int8_export_is_close_to_torch(model, pairs, torch_scores, tmp_path):
    path = export_onnx(model, tmp_path / "model.int8.onnx", quantize=True)
    scores = _scores_with(model, OnnxRuntime(path), pairs)
    stance, voice = scores["stance"], scores["voice"]
    assert stance.shape == torch_scores["stance"].shape and voice.shape == torch_scores["voice"].shape
    np.testing.assert_allclose(stance.sum(1), 1.0, atol=1e-5)
    assert np.abs(stance - torch_scores["stance"]).max() < 0.05
    assert np.abs(voice - torch_scores["voice"]).max() < 0.05
    assert (stance.argmax(1) == torch_scores["stance"].argmax(1)).mean() >= 0.9


def test_runtime_accepts_numpy_batches_of_any_length(model, fp32_path):
    runtime = OnnxRuntime(fp32_path, threads=1)
    for texts in (["Short."], SENTENCES):
        batch = model.encode_pairs(texts, ["NATO, the North Atlantic alliance"] * len(texts), return_tensors="np")
        logits = runtime(batch)
        assert list(logits) == ["stance", "voice"]
        assert logits["stance"].shape == (len(texts), 4) and logits["voice"].shape == (len(texts), 2)


def test_use_onnx_exports_once_into_the_model_folder(tiny_model_dir, pairs, torch_scores, tmp_path):
    model_dir = shutil.copytree(tiny_model_dir, tmp_path / "model")  # the shared fixture stays as it is
    model = StanceModel.from_pretrained(model_dir)
    runtime = use_onnx(model, model_dir=model_dir)
    path = onnx_path(model_dir)
    assert runtime.path == path and path.name == INT8_NAME and path.is_file()
    assert model.runtime is runtime
    stamp = path.stat().st_mtime_ns

    again = StanceModel.from_pretrained(model_dir)
    use_onnx(again, model_dir=model_dir)
    assert path.stat().st_mtime_ns == stamp  # reused, not exported again
    stance = again.score_pairs(*pairs, batch_size=8)["stance"]
    assert (stance.argmax(1) == torch_scores["stance"].argmax(1)).mean() >= 0.9

    prediction = again.predict("Putin said the West was hostile to Russia.")
    assert prediction.stance["russia"].scored


def test_use_onnx_reexports_when_the_weights_change(tiny_model_dir, tmp_path):
    model = StanceModel.from_pretrained(tiny_model_dir)
    cache = tmp_path / "cache"
    first = use_onnx(model, cache_dir=cache, quantize=False)
    stamp = first.path.stat().st_mtime_ns
    use_onnx(model, cache_dir=cache, quantize=False)
    assert first.path.stat().st_mtime_ns == stamp
    with torch.no_grad():
        model.heads["stance"].bias += 1.0
    second = use_onnx(model, cache_dir=cache, quantize=False)
    assert second.path.stat().st_mtime_ns != stamp


def test_use_onnx_falls_back_to_a_user_cache(tiny_model_dir, tmp_path, monkeypatch):
    import stance.models.onnx_runtime as onnx_runtime

    monkeypatch.setenv("STANCE_CACHE", str(tmp_path / "user-cache"))
    monkeypatch.setattr(onnx_runtime, "_writable", lambda directory: False)
    model = StanceModel.from_pretrained(tiny_model_dir)
    fresh_dir = tmp_path / "readonly-model"
    shutil.copytree(tiny_model_dir, fresh_dir, ignore=shutil.ignore_patterns("onnx"))
    runtime = use_onnx(model, model_dir=fresh_dir, quantize=False)
    assert runtime.path.is_relative_to(tmp_path / "user-cache")
    assert not (fresh_dir / "onnx").exists()


def test_from_pretrained_with_the_onnx_runtime_keeps_no_torch_encoder(tiny_model_dir, pairs, torch_scores, tmp_path):
    model_dir = shutil.copytree(tiny_model_dir, tmp_path / "model")
    first = StanceModel.from_pretrained(model_dir, runtime="onnx")  # exports
    path = onnx_path(model_dir)
    stamp = path.stat().st_mtime_ns
    again = StanceModel.from_pretrained(model_dir, runtime="onnx")  # reuses the export, loads no encoder weights
    assert path.stat().st_mtime_ns == stamp
    for model in (first, again):
        assert isinstance(model.backbone.encoder, RuntimeOnlyEncoder) and not list(model.backbone.encoder.parameters())
        assert model.runtime is not None and model.runtime.path == path
        stance = model.score_pairs(*pairs, batch_size=8)["stance"]
        assert (stance.argmax(1) == torch_scores["stance"].argmax(1)).mean() >= 0.9
    with pytest.raises(RuntimeError, match="runtime"):
        again(**again.encode_pairs(["NATO met."], ["NATO"]))
    # saving it writes the weights it was loaded from, whether it exported or reused the export
    original = load_file(str(model_dir / WEIGHTS_NAME))
    for name, model in (("first", first), ("again", again)):
        model.save_pretrained(tmp_path / name)
        saved = load_file(str(tmp_path / name / WEIGHTS_NAME))
        assert saved.keys() == original.keys() and all(torch.equal(saved[k], original[k]) for k in original)
        reloaded = StanceModel.from_pretrained(tmp_path / name)
        assert np.allclose(reloaded.score_pairs(*pairs, batch_size=8)["stance"], torch_scores["stance"], atol=1e-5)


def test_an_unknown_runtime_is_refused(tiny_model_dir):
    with pytest.raises(ValueError, match="runtime"):
        StanceModel.from_pretrained(tiny_model_dir, runtime="tensorrt")


def test_export_false_loads_an_existing_export_and_never_makes_one(tiny_model_dir, tmp_path):
    folder = shutil.copytree(tiny_model_dir, tmp_path / "model", ignore=shutil.ignore_patterns("onnx"))
    with pytest.raises(FileNotFoundError, match="no ONNX export"):
        StanceModel.from_pretrained(folder, runtime="onnx", export=False)
    assert not (folder / "onnx").exists()
    exported = StanceModel.from_pretrained(folder, runtime="onnx")
    loaded = StanceModel.from_pretrained(folder, runtime="onnx", export=False)
    assert loaded.runtime is not None and loaded.runtime.path == exported.runtime.path
    sentence = "Serbia will never join NATO."
    assert loaded.predict(sentence).stance["nato"].scores == exported.predict(sentence).stance["nato"].scores


def test_the_fingerprint_is_the_saved_weights_config_and_encoder(tiny_model_dir, tmp_path):
    """An export is reused only for the weights it came from (issue 13, item 6)."""
    import dataclasses
    import json

    from safetensors.torch import save_file

    model = StanceModel.from_pretrained(tiny_model_dir)
    copy = shutil.copytree(tiny_model_dir, tmp_path / "copy", ignore=shutil.ignore_patterns("onnx"))
    same = model_fingerprint(model, copy)
    assert same == model_fingerprint(model, tiny_model_dir)
    weights = load_file(str(copy / WEIGHTS_NAME))
    weights["heads.stance.bias"] = weights["heads.stance.bias"] + 1.0
    save_file(weights, str(copy / WEIGHTS_NAME))
    other_weights = model_fingerprint(model, copy)
    config = json.loads((copy / "config.json").read_text(encoding="utf-8"))
    (copy / "config.json").write_text(json.dumps({**config, "note": "changed"}), encoding="utf-8")
    other_config = model_fingerprint(model, copy)
    model.backbone.settings = dataclasses.replace(model.backbone.settings, encoder={**model.backbone.settings.encoder, "name_or_path": "elsewhere"})
    other_encoder = model_fingerprint(model, copy)
    assert len({same, other_weights, other_config, other_encoder}) == 4


def test_an_export_whose_record_cannot_be_read_is_made_again(tiny_model_dir, tmp_path):
    model = StanceModel.from_pretrained(tiny_model_dir)
    cache = tmp_path / "cache"
    first = use_onnx(model, cache_dir=cache, quantize=False)
    assert first.path == cache / FP32_NAME
    stamp = first.path.stat().st_mtime_ns
    (cache / META_NAME).write_text("{not json", encoding="utf-8")
    assert use_onnx(model, cache_dir=cache, quantize=False, export=False) is None, "an unreadable record was trusted"
    use_onnx(model, cache_dir=cache, quantize=False)
    assert first.path.stat().st_mtime_ns != stamp


def test_use_onnx_names_quantises_and_threads_as_asked(tiny_model_dir, tmp_path):
    import onnx

    model_dir = shutil.copytree(tiny_model_dir, tmp_path / "model", ignore=shutil.ignore_patterns("onnx"))
    model = StanceModel.from_pretrained(model_dir)
    fp32 = use_onnx(model, model_dir=model_dir, quantize=False, threads=1)
    int8 = use_onnx(model, model_dir=model_dir, threads=2)
    assert fp32.path == model_dir / "onnx" / FP32_NAME and int8.path == model_dir / "onnx" / INT8_NAME
    assert fp32.session.get_session_options().intra_op_num_threads == 1
    assert int8.session.get_session_options().intra_op_num_threads == 2
    fp32_ops = {node.op_type for node in onnx.load(str(fp32.path)).graph.node}
    int8_ops = {node.op_type for node in onnx.load(str(int8.path)).graph.node}
    assert "MatMulInteger" not in fp32_ops and "MatMulInteger" in int8_ops


def test_the_user_cache_is_stance_cache_then_xdg_then_home(tmp_path, monkeypatch):
    monkeypatch.setenv("STANCE_CACHE", str(tmp_path / "stance-cache"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert user_cache_dir() == tmp_path / "stance-cache"
    monkeypatch.delenv("STANCE_CACHE")
    assert user_cache_dir() == tmp_path / "xdg" / "stance"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert user_cache_dir() == tmp_path / "home" / ".cache" / "stance"


def _float_ffn_outputs(path) -> list[str]:
    import onnx

    return [node.name for node in onnx.load(str(path)).graph.node if node.op_type == "MatMul" and "output/dense" in node.name]


def test_int8_ffn_output_quantises_the_ffn_output_projections_too(tiny_model_dir, tmp_path):
    import json

    model_dir = shutil.copytree(tiny_model_dir, tmp_path / "model", ignore=shutil.ignore_patterns("onnx"))
    default = use_onnx(StanceModel.from_pretrained(model_dir), model_dir=model_dir)
    assert len(_float_ffn_outputs(default.path)) == 2  # one a layer of the tiny encoder, kept in float
    fingerprint = model_fingerprint(StanceModel.from_pretrained(model_dir), model_dir)

    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    config["options"]["int8_ffn_output"] = True
    (model_dir / "config.json").write_text(json.dumps(config), encoding="utf-8")
    model = StanceModel.from_pretrained(model_dir, runtime="onnx")
    assert model.settings.int8_ffn_output
    assert model_fingerprint(model, model_dir) != fingerprint  # the old export is not reused
    assert _float_ffn_outputs(model.runtime.path) == []
    prediction = model.predict("Putin said the West was hostile to Russia.")
    assert prediction.stance["russia"].scored

    model.save_pretrained(tmp_path / "saved")
    assert json.loads((tmp_path / "saved" / "config.json").read_text(encoding="utf-8"))["options"]["int8_ffn_output"] is True


def test_an_articles_int8_scores_do_not_depend_on_the_other_articles_evaluated(model, tmp_path):
    """Dynamic int8 picks activation scales per batch; the evaluator batches each article alone, so a file's
    other articles cannot move an article's scores (they did: 55 of 3,688 real dev pairs of 1.6.0)."""
    from stance.training.data import StanceExample
    from stance.training.evaluation import StanceEvaluator

    def rows(article: str, sentences: list[str]) -> list[StanceExample]:
        return [
            StanceExample(text=text, target=target, label="none", article_id=article, sentence_id=index)
            for index, text in enumerate(sentences)
            for target in model.targets
        ]

    first, other = rows("a", SENTENCES[:3]), rows("b", SENTENCES[3:])
    model.runtime = OnnxRuntime(export_onnx(model, tmp_path / INT8_NAME), threads=1)
    try:
        mixed_batch = model.score_pairs([r.text for r in first + other], [r.query_in(model.targets) for r in first + other], batch_size=64)
        alone = StanceEvaluator(first, gate=False, batch_size=64).predict(model)[0]
        beside_others = StanceEvaluator(first + other, gate=False, batch_size=64).predict(model)[0][: len(first)]
    finally:
        model.runtime = None
    assert not np.allclose(mixed_batch["stance"][: len(first)], alone)  # one shared batch moves the first article's scores
    np.testing.assert_array_equal(beside_others, alone)


@pytest.mark.parametrize(
    ("flags", "saturate"),
    [
        ("fpu sse2 avx avx2 fma", True),
        ("fpu sse2 avx avx2 avx512f avx512bw avx512_vnni", False),
        ("fpu sse2 avx avx2 avx_vnni", False),
        ("fpu sse2 avx", False),
    ],
)
def test_int8_products_saturate_on_avx2_without_vnni(tmp_path, flags, saturate):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"processor\t: 0\nflags\t\t: {flags}\n\nprocessor\t: 1\nflags\t\t: {flags}\n", encoding="utf-8")
    assert onnx_runtime.int8_products_saturate(cpuinfo) is saturate
    assert onnx_runtime.int8_products_saturate(tmp_path / "absent") is False


def test_an_export_for_a_cpu_whose_int8_products_saturate_has_seven_bit_weights(tiny_model_dir, tmp_path, monkeypatch):
    import onnx
    from onnx import numpy_helper

    model = StanceModel.from_pretrained(tiny_model_dir)
    largest, fingerprints, fp32_fingerprints = {}, {}, set()
    for saturate in (False, True):
        monkeypatch.setattr(onnx_runtime, "int8_products_saturate", lambda saturate=saturate: saturate)
        path = export_onnx(model, tmp_path / f"{saturate}.onnx", quantize=True)
        weights = [numpy_helper.to_array(t) for t in onnx.load(str(path)).graph.initializer if t.data_type == onnx.TensorProto.INT8]
        largest[saturate] = max(int(np.abs(w.astype(np.int16)).max()) for w in weights)
        fingerprints[saturate] = model_fingerprint(model, tiny_model_dir)
        fp32_fingerprints.add(model_fingerprint(model, tiny_model_dir, quantize=False))
    assert largest[False] == 127 and largest[True] <= 64
    assert fingerprints[False] != fingerprints[True]  # an int8 export made on the other kind of CPU is made again
    assert len(fp32_fingerprints) == 1  # an fp32 export, the same on both, is kept
