"""Frames and narratives of whole articles on the shared backbone: chunking, pooling, thresholds,
the fallback label, save/load, the ONNX runtime, and the trainer with the article task."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from conftest_corpus import CORPUS
from stance.models import StanceModel
from stance.models.framing import LABELS_NAME, ArticleLabelModel
from stance.models.labelsets import LabelSet, default_labelset
from stance.models.sentences import split_sentences
from stance.training.arguments import TrainingArguments
from stance.training.article_data import ArticleExample
from stance.training.article_tasks import ArticleLabelTask, tune_thresholds
from stance.training.trainer import Trainer

LONG_ARTICLE = " ".join(CORPUS[:9] * 3)  # 27 sentences: several chunks of 32 tokens
TOY = LabelSet(task="narratives", labels=("URW: Praise of Russia", "URW: Discrediting the West, Diplomacy"), fallback="Other", separator=";")


@pytest.fixture(scope="module")
def frames_model(tiny_encoder) -> ArticleLabelModel:
    model = ArticleLabelModel.from_encoder(str(tiny_encoder), labelset=default_labelset("frames"), lora_rank=None, max_length=32)
    with torch.no_grad():
        model.heads["frames"].weight.normal_(0, 1.0)
    return model


def test_chunks_pack_whole_sentences_in_order_within_the_budget(frames_model):
    sentences = [s.text for s in split_sentences(LONG_ARTICLE)]
    chunks = frames_model.chunks(sentences)
    assert [i for chunk in chunks for i in chunk] == list(range(len(sentences)))
    assert len(chunks) > 3
    budget = frames_model.backbone.settings.max_length - 2
    for chunk in chunks:
        tokens = sum(len(frames_model.tokenizer(sentences[i], add_special_tokens=False)["input_ids"]) for i in chunk)
        assert tokens <= budget or len(chunk) == 1
    assert frames_model.chunks([]) == []


def test_an_article_is_the_mean_of_its_chunks(frames_model):
    logits, articles = frames_model.article_logits([LONG_ARTICLE, "Rain.", ""])
    sentences, chunks = [s.text for s in articles[0].sentences], articles[0].chunks
    alone = [frames_model.batched_logits([" ".join(sentences[i] for i in chunk)])["frames"][0] for chunk in chunks]
    np.testing.assert_allclose(logits[0], np.mean(alone, axis=0), atol=1e-5)
    assert np.all(logits[2] == 0.0)  # no sentence, no evidence either way


def test_analyze_scores_every_label_and_applies_thresholds(frames_model):
    labels = default_labelset("frames").labels
    result = frames_model.analyze(LONG_ARTICLE)
    assert list(result.scores) == list(labels)
    assert result.labels == [label for label in labels if result.scores[label] >= 0.5]
    frames_model.head.thresholds = {label: 0.0 for label in labels}
    try:
        everything = frames_model.analyze(LONG_ARTICLE)
    finally:
        frames_model.head.thresholds = {}
    assert everything.labels == list(labels)
    _, articles = frames_model.article_logits([LONG_ARTICLE])
    chunk_logits = [frames_model.batched_logits([text])["frames"][0] for text in articles[0].chunk_texts()]
    assert set(everything.evidence) == set(labels)
    for column, label in enumerate(labels):  # evidence: the sentences of the chunk that scores the label highest
        assert everything.evidence[label] == articles[0].chunks[int(np.argmax([row[column] for row in chunk_logits]))]


def test_no_label_passing_gives_the_fallback(tiny_encoder):
    model = ArticleLabelModel.from_encoder(str(tiny_encoder), labelset=TOY, lora_rank=None, max_length=32)
    model.head.thresholds = {label: 1.0 for label in TOY.labels}
    result = model.analyze(LONG_ARTICLE)
    assert result.labels == ["Other"] and result.evidence == {}
    assert set(result.scores) == set(TOY.labels)


def test_save_and_load_round_trip_and_the_task_is_checked(frames_model, tmp_path, tiny_model_dir):
    frames_model.head.temperature = 1.6
    frames_model.head.thresholds = {"Economic": 0.3}
    try:
        directory = frames_model.save_pretrained(tmp_path / "frames")
        loaded = ArticleLabelModel.from_pretrained(directory)
        assert loaded.head == frames_model.head and loaded.labelset == frames_model.labelset
        np.testing.assert_allclose(loaded.article_logits([LONG_ARTICLE])[0], frames_model.article_logits([LONG_ARTICLE])[0], atol=1e-5)
        config = json.loads((directory / "config.json").read_text(encoding="utf-8"))
        assert config["task"] == "frames" and config["problem_type"] == "multi_label_classification"
        assert config["heads"][0]["thresholds"] == {"Economic": 0.3}
        assert (directory / LABELS_NAME).is_file()
    finally:
        frames_model.head.temperature, frames_model.head.thresholds = 1.0, {}
    with pytest.raises(ValueError, match="'frames' model, not a 'stance' model"):
        StanceModel.from_pretrained(directory)
    with pytest.raises(ValueError, match="'stance' model, not a 'frames' or 'narratives' model"):
        ArticleLabelModel.from_pretrained(tiny_model_dir)


def test_the_onnx_runtime_returns_the_frames_head(frames_model, tmp_path):
    pytest.importorskip("onnxruntime")
    from stance.models.onnx_runtime import OnnxRuntime, export_onnx

    path = export_onnx(frames_model, tmp_path / "model.onnx", quantize=False)
    expected = frames_model.article_logits([LONG_ARTICLE])[0]
    frames_model.runtime = OnnxRuntime(path, threads=1)
    try:
        logits = frames_model.article_logits([LONG_ARTICLE])[0]
    finally:
        frames_model.runtime = None
    assert frames_model.runtime is None and OnnxRuntime(path, threads=1).heads == ["frames"]
    np.testing.assert_allclose(logits, expected, atol=1e-4)


# ---- training -------------------------------------------------------------------------

PRAISE = "Putin said the West was hostile to Russia. Russia, the Kremlin, Moscow, Putin and Russian forces"
WEST = "Washington and its Western allies accused Moscow of propaganda. the West, Western governments, Washington, the United States and Britain"
NEITHER = "The weather in Belgrade was mild on Monday. EU foreign ministers met in Brussels to discuss the Balkans."


def toy_articles(prefix: str) -> list[ArticleExample]:
    rows = [(PRAISE, ("URW: Praise of Russia",)), (WEST, ("URW: Discrediting the West, Diplomacy",)), (NEITHER, ())]
    return [ArticleExample(article_id=f"{prefix}{i}", text=text, labels=labels) for i, (text, labels) in enumerate(rows)]


def test_the_trainer_trains_the_article_task(tiny_encoder, tmp_path):
    args = TrainingArguments(encoder=str(tiny_encoder), epochs=6, batch_size=2, lora_rank=0, learning_rate=3e-3, max_length=32, model_name="toy")
    task = ArticleLabelTask(TOY)
    trainer = Trainer(args, toy_articles("t") * 4, toy_articles("d"), task=task, progress=False)
    result = trainer.train()
    losses = [h["train_loss"] for h in result.history]
    assert losses[-1] < 0.6 * losses[0], losses
    scores = [h["dev_samples_f1"] for h in result.history]
    assert result.best_epoch == 1 + scores.index(max(scores))
    assert result.dev_metrics["samples_f1"] >= 2 / 3  # three separable articles
    assert result.model.head.temperature > 0 and set(result.model.head.thresholds) == set(TOY.labels)
    directory = trainer.save(result, tmp_path / "narratives")
    card = (directory / "README.md").read_text(encoding="utf-8")
    assert card.startswith("# toy 0") and "samples-F1" in card
    loaded = ArticleLabelModel.from_pretrained(directory)
    assert [r.labels for r in loaded.analyze_many([PRAISE, WEST, NEITHER])] == [r.labels for r in result.model.analyze_many([PRAISE, WEST, NEITHER])]


def test_thresholds_maximise_each_labels_dev_f1():
    probabilities = np.array([[0.9, 0.2], [0.35, 0.1], [0.3, 0.6], [0.1, 0.05]])
    gold = np.array([[1, 0], [1, 0], [0, 0], [0, 0]], dtype=np.float32)
    thresholds = tune_thresholds(probabilities, gold, ("a", "b"))
    assert 0.3 < thresholds["a"] <= 0.35  # both positives, not the 0.3 negative
    assert "b" not in thresholds  # no positive on dev: the default 0.5 stays


def test_the_article_model_keeps_frames_apart_from_a_copied_folder(frames_model, tmp_path):
    directory = frames_model.save_pretrained(tmp_path / "frames")
    copy = shutil.copytree(directory, tmp_path / "copy")
    (copy / LABELS_NAME).write_text(json.dumps({**TOY.to_dict()}), encoding="utf-8")
    with pytest.raises(ValueError, match="'narratives' label set, but the model's task is 'frames'"):
        ArticleLabelModel.from_pretrained(copy)


# ---- head-only models and the reader that shares one encoder pass ----------------------


def test_a_frozen_model_saves_its_head_only_and_loads_the_same(tiny_framing_dirs, tmp_path):
    from safetensors.torch import load_file, save_file

    directory = tiny_framing_dirs["frames"]
    weights = load_file(str(directory / "model.safetensors"))
    assert sorted(weights) == ["heads.frames.bias", "heads.frames.weight"]  # no encoder weights: they come from the encoder's source
    config = json.loads((directory / "config.json").read_text(encoding="utf-8"))
    assert config["backbone"]["frozen"] is True and config["backbone"]["lora"] is None
    assert "_name_or_path" not in config  # where the encoder sat on the training machine is no setting
    model = ArticleLabelModel.from_pretrained(directory)
    again = model.save_pretrained(tmp_path / "again")
    assert load_file(str(again / "model.safetensors")).keys() == weights.keys()
    assert ArticleLabelModel.from_pretrained(again).analyze(LONG_ARTICLE) == model.analyze(LONG_ARTICLE)
    bad = shutil.copytree(directory, tmp_path / "bad")
    save_file({**weights, "backbone.encoder.embeddings.word_embeddings.weight": torch.zeros(2, 2)}, str(bad / "model.safetensors"))
    with pytest.raises(ValueError, match="frozen"):
        ArticleLabelModel.from_pretrained(bad)


def _count_encoder_calls(model) -> list[int]:
    calls: list[int] = []
    model.backbone.encoder.register_forward_hook(lambda *_: calls.append(1))
    return calls


def test_the_reader_reads_frames_and_narratives_in_one_encoder_pass(tiny_framing_dirs):
    from stance.models.framing import ArticleReader

    texts = [LONG_ARTICLE, "Rain in Belgrade.", " ".join(CORPUS[3:6])]
    alone = {task: ArticleLabelModel.from_pretrained(directory) for task, directory in tiny_framing_dirs.items()}
    calls_alone = {task: _count_encoder_calls(model) for task, model in alone.items()}
    expected = {task: model.analyze_many(texts, batch_size=4) for task, model in alone.items()}
    reader = ArticleReader.load(tiny_framing_dirs.values())
    shared_calls = _count_encoder_calls(reader.models["frames"])
    results = reader.analyze_many(texts, batch_size=4)
    assert len(shared_calls) == len(calls_alone["frames"]) == len(calls_alone["narratives"]) > 1  # one pass for both tasks
    for row, found in enumerate(results):
        assert list(found) == ["frames", "narratives"]
        for task in found:
            assert found[task].labels == expected[task][row].labels and found[task].evidence == expected[task][row].evidence
            assert found[task].scores == pytest.approx(expected[task][row].scores, abs=1e-5)
    assert [list(r) for r in reader.analyze_many(texts[:1], tasks=["narratives"])] == [["narratives"]]
    with pytest.raises(KeyError, match="no model for stance"):
        reader.analyze_many(texts, tasks=["stance"])
    with pytest.raises(ValueError, match="two frames models"):
        ArticleReader([alone["frames"], ArticleLabelModel.from_pretrained(tiny_framing_dirs["frames"])])


def test_the_reader_on_the_int8_runtime_follows_torch(tiny_framing_dirs, tmp_path, monkeypatch):
    pytest.importorskip("onnxruntime")
    from stance.models.framing import ArticleReader

    monkeypatch.setenv("STANCE_CACHE", str(tmp_path / "cache"))
    torch_results = ArticleReader.load(tiny_framing_dirs.values()).analyze_many([LONG_ARTICLE])[0]
    reader = ArticleReader.load(tiny_framing_dirs.values(), runtime="onnx")
    assert reader.runtime_of("frames") == reader.runtime_of("narratives") == "onnx"
    assert len(list((tmp_path / "cache").glob("*/model.int8.onnx"))) == 1  # one export for both heads
    onnx_results = reader.analyze_many([LONG_ARTICLE])[0]
    for task, result in onnx_results.items():
        assert result.scores == pytest.approx(torch_results[task].scores, abs=0.05)


# ---- a frozen reader of the encoder's first layers ----------------------------------------


def test_a_frozen_reader_of_the_first_layers_reads_those_layers_and_keeps_them(tiny_encoder, tmp_path, monkeypatch):
    from stance.models.framing import ArticleReader

    full = ArticleLabelModel.from_encoder(str(tiny_encoder), labelset=default_labelset("frames"), lora_rank=None, frozen=True, max_length=32)
    shallow = ArticleLabelModel.from_encoder(
        str(tiny_encoder), labelset=default_labelset("frames"), lora_rank=None, frozen=True, max_length=32, layers=1
    )
    assert len(shallow.backbone.encoder.encoder.layer) == 1 and len(full.backbone.encoder.encoder.layer) == 2
    batch = shallow.backbone.tokenize(CORPUS[:4])
    with torch.no_grad():
        first_layer = full.backbone.encoder(**batch, output_hidden_states=True).hidden_states[1]
        mask = batch["attention_mask"].unsqueeze(-1).float()
        expected = (first_layer * mask).sum(1) / mask.sum(1)
        assert torch.allclose(shallow.backbone(**batch), expected, atol=1e-5)  # the first layer's states, pooled
    with torch.no_grad():
        shallow.heads["frames"].weight.normal_(0, 2.0)
    directory = shallow.save_pretrained(tmp_path / "shallow")
    config = json.loads((directory / "config.json").read_text(encoding="utf-8"))
    assert config["backbone"]["layers"] == 1 and "layers" not in full.backbone.settings.to_dict()  # other configs read as before
    loaded = ArticleLabelModel.from_pretrained(directory)
    assert len(loaded.backbone.encoder.encoder.layer) == 1
    assert loaded.analyze(LONG_ARTICLE).scores == pytest.approx(shallow.analyze(LONG_ARTICLE).scores, abs=1e-6)
    monkeypatch.setenv("STANCE_CACHE", str(tmp_path / "cache"))
    through_onnx = ArticleReader.load([directory], runtime="onnx").analyze_many([LONG_ARTICLE])[0]["frames"]
    assert through_onnx.scores == pytest.approx(loaded.analyze(LONG_ARTICLE).scores, abs=0.05)
    with pytest.raises(ValueError, match="has 2 layers, fewer than the 3"):
        ArticleLabelModel.from_encoder(str(tiny_encoder), labelset=default_labelset("frames"), lora_rank=None, frozen=True, layers=3)
    with pytest.raises(ValueError, match="frozen encoder only"):
        ArticleLabelModel.from_encoder(str(tiny_encoder), labelset=default_labelset("frames"), lora_rank=4, layers=1)


def test_the_shipped_framing_heads_share_one_pass_of_three_layers_and_read_defence_as_defence():
    from stance.models.framing import DEFAULT_FRAMING_DIRS, ArticleReader

    reader = ArticleReader.load(DEFAULT_FRAMING_DIRS.values())
    assert {model.backbone.settings.layers for model in reader.models.values()} == {3}  # one shallow pass: issue 11's speed budget
    calls = _count_encoder_calls(reader.models["frames"])
    article = (
        "NATO allies agreed on Tuesday to raise defence spending and send more air defence systems to Ukraine as Russian missile "
        "strikes on power plants continued. The alliance said new troops on its eastern flank would deter further Russian aggression."
    )
    found = reader.analyze_many([article])[0]
    assert len(calls) == 1 and "Security_and_defense" in found["frames"].labels
    assert set(found["narratives"].scores) == set(reader.models["narratives"].labelset.labels)
