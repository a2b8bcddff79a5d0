"""The stance model: construction in both modes, save/load, atomic saves, predict, gating, analyze."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import stance.models.core as core
import torch
from safetensors.torch import load_file
from stance.models import STANCE_LABELS, VOICE_LABELS, StanceModel, split_sentences
from stance.models.config import SHIPPED_MODELS
from stance.models.tasks import sentence_voice

SENTENCES = [
    "Serbia will never join NATO and will keep close ties with Moscow.",
    "The weather in Belgrade was mild on Monday.",
    "Brussels praised the bloc's unity on sanctions against Russia.",
    "Putin said the West was hostile to Russia.",
    "NATO's secretary general welcomed Finland as the newest member.",
    "Rain.",
]
ARTICLE = (
    "NATO ministers meet in Brussels\n\n"
    "The alliance condemned the Kremlin's aggression against its neighbours. The weather in Belgrade was mild.\n"
    "“We will never join NATO,” he said. The U.S. ambassador met Gen. Smith on Monday.\n"
    "___\n"
    "Brussels praised the bloc's unity on sanctions against Russia.\n"
)
TOKENIZER_FILES = {"tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"}


def _perturb(model: StanceModel, lora: bool) -> StanceModel:
    """Make the weights differ from the encoder on disk, so a round trip that dropped them would show."""
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if (lora and "lora_B" in name) or (not lora and "word_embeddings" in name):
                parameter.add_(torch.randn(parameter.shape, generator=generator) * 0.5)
    return model


def _probabilities(model: StanceModel, texts=SENTENCES) -> tuple[np.ndarray, np.ndarray]:
    predictions = model.predict(list(texts), gate=False)
    stance = np.array([[p.stance[t].scores[label] for t in p.stance for label in STANCE_LABELS] for p in predictions])
    voice = np.array([p.voice.score for p in predictions])
    return stance, voice


@pytest.fixture(scope="module")
def full_model(tiny_encoder) -> StanceModel:
    return _perturb(StanceModel.from_encoder(str(tiny_encoder), lora_rank=None, max_length=64), lora=False)


@pytest.fixture(scope="module")
def lora_model(tiny_encoder) -> StanceModel:
    return _perturb(StanceModel.from_encoder(str(tiny_encoder), lora_rank=4, max_length=64), lora=True)


@pytest.fixture(scope="module")
def saved_full(full_model, tmp_path_factory):
    return full_model.save_pretrained(tmp_path_factory.mktemp("full") / "model", model_card="# card\n")


@pytest.fixture(scope="module")
def saved_lora(lora_model, tmp_path_factory):
    return lora_model.save_pretrained(tmp_path_factory.mktemp("lora") / "model")


@pytest.fixture(scope="module")
def model(tiny_model_dir) -> StanceModel:
    return StanceModel.from_pretrained(tiny_model_dir)


# ---- construction -----------------------------------------------------------------


def test_from_encoder_full_fine_tuning(full_model, tiny_encoder):
    assert full_model.backbone.settings.lora is None
    assert full_model.backbone.settings.max_length == 64
    assert full_model.backbone.settings.encoder["name_or_path"] == str(tiny_encoder.resolve())
    assert list(full_model.targets) == ["russia", "west", "eu", "nato"]
    assert all(p.requires_grad for p in full_model.parameters())
    assert list(full_model.heads) == ["stance", "voice"]
    assert full_model.heads["stance"].out_features == len(STANCE_LABELS)
    assert full_model.heads["voice"].out_features == len(VOICE_LABELS)


def test_from_encoder_lora_trains_only_adapters_and_heads(lora_model):
    assert lora_model.backbone.settings.lora == {"r": 4, "alpha": 8, "dropout": 0.0}
    trainable = {name for name, p in lora_model.named_parameters() if p.requires_grad}
    frozen = {name for name, p in lora_model.named_parameters() if not p.requires_grad}
    assert trainable and frozen
    assert any("lora_A" in name for name in trainable)
    assert all("lora_" in name or name.startswith(("heads.stance.", "heads.voice.")) for name in trainable)
    assert not any("lora_" in name for name in frozen)


def test_a_seed_fixes_the_heads(tiny_encoder):
    a = StanceModel.from_encoder(str(tiny_encoder), lora_rank=None, seed=3)
    b = StanceModel.from_encoder(str(tiny_encoder), lora_rank=None, seed=3)
    c = StanceModel.from_encoder(str(tiny_encoder), lora_rank=None, seed=4)
    assert torch.equal(a.heads["stance"].weight, b.heads["stance"].weight)
    assert not torch.equal(a.heads["stance"].weight, c.heads["stance"].weight)


def test_from_encoder_defaults_are_the_recipe(tiny_encoder):
    """LoRA rank 16, 128 tokens and seed 42 are what the shipped models were trained with."""
    default = StanceModel.from_encoder(str(tiny_encoder))
    assert default.backbone.settings.lora["r"] == 16
    assert default.backbone.settings.max_length == 128
    seeded = StanceModel.from_encoder(str(tiny_encoder), seed=42)
    assert torch.equal(default.heads["stance"].weight, seeded.heads["stance"].weight)


# ---- save / load ------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["full", "lora"])
def test_round_trip_gives_identical_probabilities(mode, request):
    original = request.getfixturevalue(f"{mode}_model")
    directory = request.getfixturevalue(f"saved_{mode}")
    loaded = StanceModel.from_pretrained(directory)
    assert not loaded.training
    before_stance, before_voice = _probabilities(original)
    after_stance, after_voice = _probabilities(loaded)
    assert np.allclose(before_stance, after_stance, atol=1e-5)
    assert np.allclose(before_voice, after_voice, atol=1e-5)
    # with gating (the default), too: same labels, same scored pairs, same scores
    for a, b in zip(original.predict(SENTENCES), loaded.predict(SENTENCES), strict=True):
        assert {t: (s.label, s.scored) for t, s in a.stance.items()} == {t: (s.label, s.scored) for t, s in b.stance.items()}
        for target in a.stance:
            assert a.stance[target].scores == pytest.approx(b.stance[target].scores, abs=1e-5)
        assert a.voice.label == b.voice.label


def test_perturbation_matters(lora_model, tiny_encoder):
    """Guards the round-trip test: the adapters change the output, so losing them would be seen."""
    plain = StanceModel.from_encoder(str(tiny_encoder), lora_rank=4, max_length=64)
    assert not np.allclose(_probabilities(plain)[0], _probabilities(lora_model)[0], atol=1e-3)


def test_full_folder_contents(saved_full, full_model):
    names = {p.name for p in saved_full.iterdir()}
    assert {"config.json", "model.safetensors", "targets.json", "README.md"} <= names
    assert {"tokenizer.json", "tokenizer_config.json"} <= names
    config = json.loads((saved_full / "config.json").read_text(encoding="utf-8"))
    assert config["id2label"] == {str(i): label for i, label in enumerate(STANCE_LABELS)}
    assert config["label2id"] == {label: i for i, label in enumerate(STANCE_LABELS)}
    assert config["problem_type"] == "single_label_classification"
    assert (config["format_version"], config["task"]) == (2, "stance")
    assert config["heads"] == [
        {"name": "stance", "labels": list(STANCE_LABELS), "activation": "softmax", "temperature": 1.0},
        {"name": "voice", "labels": list(VOICE_LABELS), "activation": "softmax", "temperature": 1.0},
    ]
    assert config["model_type"] == "bert"
    assert config["backbone"]["lora"] is None
    assert config["backbone"]["max_length"] == 64
    assert config["backbone"]["pooling"] == "mean"
    assert config["backbone"]["encoder"] == full_model.backbone.settings.encoder
    assert json.loads((saved_full / "targets.json").read_text(encoding="utf-8")) == full_model.targets.to_dict()
    assert (saved_full / "README.md").read_text(encoding="utf-8") == "# card\n"
    weights = load_file(str(saved_full / "model.safetensors"))
    assert any(key.startswith("backbone.encoder.") for key in weights)
    assert set(weights) == set(full_model.state_dict())


def test_lora_folder_holds_only_adapters_and_heads(saved_lora, saved_full, lora_model):
    names = {p.name for p in saved_lora.iterdir()}
    assert {"config.json", "model.safetensors", "targets.json"} <= names
    assert not names & TOKENIZER_FILES
    assert "README.md" not in names  # no card was given
    config = json.loads((saved_lora / "config.json").read_text(encoding="utf-8"))
    assert config["backbone"]["lora"] == {"r": 4, "alpha": 8, "dropout": 0.0}
    assert config["id2label"]["0"] == "favor" and config["label2id"]["none"] == 3
    weights = load_file(str(saved_lora / "model.safetensors"))
    assert weights
    assert all("lora_" in key or key.startswith(("heads.stance.", "heads.voice.")) for key in weights)
    assert any("lora_B" in key for key in weights)
    assert (saved_lora / "model.safetensors").stat().st_size < (saved_full / "model.safetensors").stat().st_size


def test_settings_survive_the_round_trip(full_model, tmp_path):
    full_model.head_specs["stance"].temperature = 2.5
    full_model.head_specs["voice"].temperature = 0.5
    full_model.settings.gate_prior = {"neutral": 3.0, "none": 1.0}
    full_model.settings.model_name = "tiny"
    full_model.settings.model_version = "7"
    try:
        loaded = StanceModel.from_pretrained(full_model.save_pretrained(tmp_path / "model"))
        assert loaded.settings == full_model.settings
        assert loaded.head_specs == full_model.head_specs
        assert loaded.backbone.settings == full_model.backbone.settings
        assert np.allclose(_probabilities(full_model)[0], _probabilities(loaded)[0], atol=1e-5)
    finally:
        full_model.head_specs["stance"].temperature = full_model.head_specs["voice"].temperature = 1.0
        full_model.settings.gate_prior = {"none": 1.0}


def test_a_loaded_lora_model_saves_again_unchanged(saved_lora, tmp_path):
    loaded = StanceModel.from_pretrained(saved_lora)  # adapters merged for inference
    again = StanceModel.from_pretrained(loaded.save_pretrained(tmp_path / "again"))
    first, second = load_file(str(saved_lora / "model.safetensors")), load_file(str(tmp_path / "again" / "model.safetensors"))
    assert set(first) == set(second)
    assert all(torch.equal(first[key], second[key]) for key in first)
    assert np.allclose(_probabilities(loaded)[0], _probabilities(again)[0], atol=1e-5)


def test_saving_over_an_existing_folder_replaces_it(full_model, tmp_path):
    directory = tmp_path / "model"
    directory.mkdir()
    (directory / "stale.txt").write_text("from an older model", encoding="utf-8")
    full_model.save_pretrained(directory)
    names = {p.name for p in directory.iterdir()}
    assert "stale.txt" not in names
    assert "config.json" in names
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"], "no staging or old folder is left behind"
    StanceModel.from_pretrained(directory)


def test_a_failed_save_leaves_the_old_folder_intact(full_model, tmp_path, monkeypatch):
    directory = full_model.save_pretrained(tmp_path / "model", model_card="old card\n")
    before = {p.name: p.read_bytes() for p in directory.iterdir()}

    def broken_save_file(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(core, "save_file", broken_save_file)
    with pytest.raises(OSError, match="disk full"):
        full_model.save_pretrained(directory, model_card="new card\n")
    assert {p.name: p.read_bytes() for p in directory.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"], "the staging folder must be removed"


def test_a_failure_after_the_weights_also_cleans_up(full_model, tmp_path):
    with pytest.raises(ValueError, match="null"):
        full_model.save_pretrained(tmp_path / "model", extra_files={"notes.txt": "x", "bad\0name": "x"})
    assert list(tmp_path.iterdir()) == [], "neither the model nor its staging folder may be left"


def test_default_model_missing_says_how_to_get_one(tmp_path, monkeypatch):
    monkeypatch.setitem(SHIPPED_MODELS, "default", tmp_path / "default")
    with pytest.raises(FileNotFoundError, match="no shipped model") as error:
        StanceModel.from_pretrained()
    assert str(tmp_path / "default") in str(error.value)
    assert "stance train" in str(error.value)


def test_no_folder_loads_the_default_model_and_a_name_its_shipped_model(tiny_model_dir, monkeypatch):
    monkeypatch.setitem(SHIPPED_MODELS, "default", tiny_model_dir)
    monkeypatch.setitem(SHIPPED_MODELS, "minilm", tiny_model_dir)
    default = StanceModel.from_pretrained()
    named = StanceModel.from_pretrained(tiny_model_dir)
    assert np.array_equal(_probabilities(default)[0], _probabilities(named)[0])
    assert np.array_equal(_probabilities(StanceModel.from_pretrained("minilm"))[0], _probabilities(named)[0])


def test_trainable_keeps_the_adapters_apart(saved_lora):
    assert not any("lora_" in name for name, _ in StanceModel.from_pretrained(saved_lora).named_parameters()), "merged for inference"
    trainable = {name for name, p in StanceModel.from_pretrained(saved_lora, trainable=True).named_parameters() if p.requires_grad}
    assert any("lora_A" in name for name in trainable)


def test_export_false_never_exports(tiny_model_dir, tmp_path):
    pytest.importorskip("onnxruntime")
    import shutil

    directory = shutil.copytree(tiny_model_dir, tmp_path / "model", ignore=shutil.ignore_patterns("onnx"))
    with pytest.raises(FileNotFoundError):
        StanceModel.from_pretrained(directory, runtime="onnx", export=False)
    assert not (directory / "onnx").exists()


def test_loading_something_that_is_not_a_model_folder(tmp_path, tiny_model_dir):
    with pytest.raises(FileNotFoundError, match="no config.json"):
        StanceModel.from_pretrained(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}), encoding="utf-8")
    with pytest.raises(ValueError, match="no 'stance' section and no 'format_version'"):
        StanceModel.from_pretrained(tmp_path)


def test_weights_that_do_not_match_are_rejected(tiny_model_dir, tmp_path):
    import shutil

    from safetensors.torch import save_file

    directory = tmp_path / "model"
    shutil.copytree(tiny_model_dir, directory)
    weights = load_file(str(directory / "model.safetensors"))
    del weights["heads.stance.weight"]
    save_file(weights, str(directory / "model.safetensors"))
    with pytest.raises(ValueError, match="heads.stance.weight"):
        StanceModel.from_pretrained(directory)


# ---- predict ----------------------------------------------------------------------


def test_predict_a_string_gives_one_prediction(model):
    prediction = model.predict(SENTENCES[0])
    assert prediction.text == SENTENCES[0]
    assert list(prediction.stance) == ["russia", "west", "eu", "nato"]


def test_predict_a_list_gives_one_prediction_per_text_in_order(model):
    predictions = model.predict(SENTENCES)
    assert isinstance(predictions, list)
    assert [p.text for p in predictions] == SENTENCES
    assert model.predict([]) == []


def test_probabilities_sum_to_one_and_label_is_the_argmax(model):
    for prediction in model.predict(SENTENCES, gate=False):
        for stance in prediction.stance.values():
            assert list(stance.scores) == list(STANCE_LABELS)
            assert math.isclose(sum(stance.scores.values()), 1.0, abs_tol=1e-5)
            assert all(0.0 <= p <= 1.0 for p in stance.scores.values())
            assert stance.label == max(stance.scores, key=stance.scores.get)
            assert math.isclose(stance.signed_score, stance.scores["favor"] - stance.scores["against"])
        assert prediction.voice.label in VOICE_LABELS
        assert 0.5 <= prediction.voice.score <= 1.0


def test_scores_do_not_depend_on_the_batch(model):
    """Length bucketing, padding and re-ordering must not change a sentence's scores."""
    alone = [model.predict(text, gate=False) for text in SENTENCES]
    batched = model.predict(SENTENCES, gate=False, batch_size=2)
    for a, b in zip(alone, batched, strict=True):
        assert a.text == b.text
        for target in a.stance:
            assert np.allclose(list(a.stance[target].scores.values()), list(b.stance[target].scores.values()), atol=1e-5)
        assert a.voice.label == b.voice.label
        assert math.isclose(a.voice.score, b.voice.score, abs_tol=1e-5)


def test_predict_matches_score_pairs(model):
    prediction = model.predict(SENTENCES[2], targets=["eu", "nato"], gate=False)
    scores = model.score_pairs([SENTENCES[2]] * 2, [model.targets["eu"].query, model.targets["nato"].query])
    stance, voice = scores["stance"], scores["voice"]
    assert np.allclose(list(prediction.stance["eu"].scores.values()), stance[0], atol=1e-6)
    assert np.allclose(list(prediction.stance["nato"].scores.values()), stance[1], atol=1e-6)
    assert (prediction.voice.label, pytest.approx(prediction.voice.score, abs=1e-6)) == sentence_voice(voice, stance)


def test_temperature_flattens_the_probabilities(full_model):
    sharp = _probabilities(full_model)[0]
    full_model.head_specs["stance"].temperature = 100.0
    try:
        flat = _probabilities(full_model)[0]
    finally:
        full_model.head_specs["stance"].temperature = 1.0
    assert np.abs(flat - 0.25).max() < np.abs(sharp - 0.25).max()
    assert np.abs(flat - 0.25).max() < 0.01


def test_targets_limit_the_output(model):
    prediction = model.predict(SENTENCES[0], targets=["nato", "russia"])
    assert list(prediction.stance) == ["nato", "russia"]


def test_unknown_target_raises_key_error(model):
    with pytest.raises(KeyError, match="china"):
        model.predict(SENTENCES[0], targets=["nato", "china"])
    with pytest.raises(KeyError, match="china"):
        model.analyze(ARTICLE, targets=["china"])


# ---- the alias gate ---------------------------------------------------------------


def test_gate_skips_targets_without_an_alias(full_model):
    full_model.settings.gate_prior = {"neutral": 3.0, "none": 1.0}
    try:
        gated = full_model.predict("The weather in Belgrade was mild on Monday.", gate=True)
        ungated = full_model.predict("The weather in Belgrade was mild on Monday.", gate=False)
    finally:
        full_model.settings.gate_prior = {"none": 1.0}
    for target in ("russia", "west", "eu", "nato"):
        result = gated.stance[target]
        assert result.scored is False
        assert result.label == "neutral"
        assert result.scores == pytest.approx({"favor": 0.0, "against": 0.0, "neutral": 0.75, "none": 0.25})
        assert ungated.stance[target].scored is True
    # no pair was scored, so the voice is the author's
    assert gated.voice.label == "author" and gated.voice.score == 1.0


def test_gate_scores_only_the_targets_that_are_mentioned(model):
    text = "NATO's secretary general welcomed Finland as the newest member."
    gated = model.predict(text, gate=True)
    ungated = model.predict(text)
    assert all(s.scored for s in ungated.stance.values()), "predict does not gate unless asked"
    assert gated.stance["nato"].scored is True
    assert gated.stance["nato"].scores == pytest.approx(ungated.stance["nato"].scores, abs=1e-6)
    assert gated.stance["russia"].scored is False
    assert gated.stance["russia"].label == "none"
    assert gated.stance["russia"].scores == {"favor": 0.0, "against": 0.0, "neutral": 0.0, "none": 1.0}


def test_settings_gate_is_the_default_of_analyze(full_model):
    text = "The weather in Belgrade was mild on Monday."
    full_model.settings.gate = False
    try:
        assert all(s.scored for s in full_model.analyze(text).sentences[0].stance.values())
    finally:
        full_model.settings.gate = True
    assert not any(s.scored for s in full_model.analyze(text).sentences[0].stance.values())
    assert all(s.scored for s in full_model.predict(text).stance.values())


def test_analyze_gate_overrides_the_settings(full_model):
    text = "The weather in Belgrade was mild on Monday."
    assert full_model.settings.gate is True
    assert all(s.scored for s in full_model.analyze(text, gate=False).sentences[0].stance.values())
    assert all(s.scored for s in full_model.analyze_many([text], gate=False)[0].sentences[0].stance.values())
    full_model.settings.gate = False
    try:
        assert not any(s.scored for s in full_model.analyze(text, gate=True).sentences[0].stance.values())
    finally:
        full_model.settings.gate = True


# ---- analyze ----------------------------------------------------------------------


@pytest.mark.parametrize("gate", [True, False])
def test_analyze_offsets_and_summary(model, gate):
    analysis = model.analyze(ARTICLE, gate=gate)
    expected = split_sentences(ARTICLE)
    assert [s.text for s in analysis.sentences] == [s.text for s in expected]
    for i, sentence in enumerate(analysis.sentences):
        assert sentence.index == i
        assert ARTICLE[sentence.start : sentence.end] == sentence.text
    assert list(analysis.summary) == ["russia", "west", "eu", "nato"]
    for target, summary in analysis.summary.items():
        labels = [s.stance[target].label for s in analysis.sentences]
        assert summary.counts == {label: labels.count(label) for label in STANCE_LABELS}
        assert sum(summary.counts.values()) == len(analysis.sentences)
        concerned = [s.stance[target] for s in analysis.sentences if s.stance[target].label != "none"]
        assert summary.mentions == len(concerned)
        expected_score = sum(r.scores["favor"] - r.scores["against"] for r in concerned) / len(concerned) if concerned else 0.0
        assert summary.score == pytest.approx(expected_score, abs=1e-9)
        stanced = [s for s in analysis.sentences if s.stance[target].label in ("favor", "against")]
        assert len(summary.evidence) == min(3, len(stanced))
        for evidence in summary.evidence:
            sentence = analysis.sentences[evidence.index]
            assert evidence.text == sentence.text
            assert evidence.label == sentence.stance[target].label in ("favor", "against")
            assert evidence.score == sentence.stance[target].scores[evidence.label]
        assert [e.score for e in summary.evidence] == sorted((e.score for e in summary.evidence), reverse=True)


def test_analyze_summary_with_stanced_sentences(full_model):
    """With the gate off every pair is scored, so the summary's score is a real mean."""
    analysis = full_model.analyze(ARTICLE, gate=False)
    summary = analysis.summary["nato"]
    concerned = [s.stance["nato"] for s in analysis.sentences if s.stance["nato"].label != "none"]
    assert concerned, "the perturbed model should predict some non-none labels"
    assert summary.score == pytest.approx(np.mean([r.scores["favor"] - r.scores["against"] for r in concerned]))


def test_analyze_scores_each_sentence_alone(model):
    analysis = model.analyze(ARTICLE, gate=False)
    for sentence in analysis.sentences:
        alone = model.predict(sentence.text, gate=False)
        for target, result in sentence.stance.items():
            assert result.scores == pytest.approx(alone.stance[target].scores, abs=1e-5)


WINDOW_ARTICLE = "The weather was mild.\nIt rained.\nNATO ministers met.\nThey talked.\nThey ate.\nThey slept.\nThey left.\n"


def test_analyze_gates_on_a_window_of_the_article(full_model):
    """Sentence i is scored for NATO when NATO is named within 3 sentences before it or 2 after."""
    assert full_model.settings.gate_window == [3, 2]
    analysis = full_model.analyze(WINDOW_ARTICLE)
    assert [s.stance["nato"].scored for s in analysis.sentences] == [True] * 6 + [False]
    assert not any(s.stance["russia"].scored for s in analysis.sentences)
    full_model.settings.gate_window = [0, 0]
    try:
        analysis = full_model.analyze(WINDOW_ARTICLE)
    finally:
        full_model.settings.gate_window = [3, 2]
    assert [s.stance["nato"].scored for s in analysis.sentences] == [False, False, True, False, False, False, False]


def test_analyze_many_matches_analyze_per_article(model):
    texts = [ARTICLE, WINDOW_ARTICLE, "", "Rain fell on Brussels."]
    together = model.analyze_many(texts, batch_size=4)
    assert len(together) == len(texts)
    for text, analysis in zip(texts, together, strict=True):
        alone = model.analyze(text)
        assert [s.text for s in analysis.sentences] == [s.text for s in alone.sentences]
        for mine, theirs in zip(analysis.sentences, alone.sentences, strict=True):
            for target, result in mine.stance.items():
                assert result.scored == theirs.stance[target].scored
                assert result.scores == pytest.approx(theirs.stance[target].scores, abs=1e-5)
        assert {t: s.score for t, s in analysis.summary.items()} == pytest.approx({t: s.score for t, s in alone.summary.items()}, abs=1e-5)


def test_analyze_with_limited_targets_and_empty_text(model):
    analysis = model.analyze(ARTICLE, targets=["eu"])
    assert list(analysis.summary) == ["eu"]
    assert all(list(s.stance) == ["eu"] for s in analysis.sentences)
    empty = model.analyze("___\n\n")
    assert empty.sentences == []
    assert empty.summary["nato"].counts == {label: 0 for label in STANCE_LABELS}
    assert empty.summary["nato"].score == 0.0


def test_predictions_serialise_to_plain_json(model):
    prediction = model.predict(SENTENCES[0]).to_dict()
    json.dumps(prediction)
    assert set(prediction) == {"text", "stance", "voice"}
    assert set(prediction["stance"]["nato"]) == {"label", "scores", "scored"}
    json.dumps(model.analyze(ARTICLE).to_dict())


# ---- long sentences: read in overlapping windows -------------------------------------

FILLER = "The meeting in the capital went on for a long time and the delegates talked about the weather. " * 8


def _window_texts(model: StanceModel, text: str, query: str) -> list[str]:
    """The parts of ``text`` that each window reads, cut where the tokenizer cut it."""
    encoded = model.backbone.tokenize(
        [text], [query], return_tensors=None, overlap=int(model.backbone.settings.max_length * core.WINDOW_OVERLAP)
    )
    encoded_offsets = model.tokenizer(
        [text],
        [query],
        truncation="only_first",
        max_length=model.backbone.settings.max_length,
        stride=int(model.backbone.settings.max_length * core.WINDOW_OVERLAP),
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
    )
    windows = []
    for row in range(len(encoded["input_ids"])):
        spans = [
            span
            for span, segment in zip(encoded_offsets["offset_mapping"][row], encoded_offsets.sequence_ids(row), strict=True)
            if segment == 0
        ]
        windows.append(text[spans[0][0] : spans[-1][1]])
    return windows


def test_a_long_sentence_is_read_to_its_end_and_takes_its_most_stanced_window(model):
    query = model.targets["nato"].query
    endings = ["NATO is a criminal alliance that must be destroyed.", "NATO troops will help Serbia and bring peace."]
    texts = [FILLER + ending for ending in endings]
    scores = model.score_pairs(texts, [query] * 2)
    assert list(scores["windows"]) == [len(_window_texts(model, texts[0], query)), len(_window_texts(model, texts[1], query))]
    assert min(scores["windows"]) > 1
    for text, stance in zip(texts, scores["stance"], strict=True):
        parts = _window_texts(model, text, query)
        assert parts[-1].endswith(text[-20:])  # the last window reads the stance-bearing tail
        each = model.score_pairs(parts, [query] * len(parts))
        assert list(each["windows"]) == [1] * len(parts)  # every part fits in one window
        concern = 1.0 - each["stance"][:, STANCE_LABELS.index("none")]
        assert np.allclose(stance, each["stance"][int(np.argmax(concern))], atol=1e-5)
        assert 1.0 - stance[STANCE_LABELS.index("none")] >= concern[-1] - 1e-6  # the tail alone never outweighs the sentence
    prediction = model.predict(texts[0], targets=["nato"])
    assert prediction.windows == scores["windows"][0]
    assert prediction.to_dict()["windows"] == prediction.windows


def test_short_sentences_score_exactly_as_when_cut_at_max_length(model):
    queries = [model.targets["nato"].query] * len(SENTENCES)
    truncated = model.batched_logits(SENTENCES, queries)
    scores = model.score_pairs(SENTENCES, queries)
    assert list(scores["windows"]) == [1] * len(SENTENCES)
    assert np.array_equal(scores["stance"], model.head_specs["stance"].probabilities(truncated["stance"]))
    assert np.array_equal(scores["voice"], model.head_specs["voice"].probabilities(truncated["voice"]))
    assert "windows" not in model.predict(SENTENCES[0]).to_dict()
