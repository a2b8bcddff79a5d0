"""The sentence reader: one encoding per sentence answers every target, through the same paths
(score_pairs, predict, analyze, save/load, ONNX, training) as the pair model."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from stance.models import STANCE_LABELS, StanceModel
from stance.models.sentence_reader import SentenceStanceModel
from stance.models.validation import ConfigError
from stance.training.arguments import TrainingArguments
from stance.training.data import StanceExample
from stance.training.recipe import TrainingData, train_model
from stance.training.trainer import Trainer

SENTENCES = ["Serbia will never join NATO.", "Moscow said so.", "The EU and NATO met in Brussels on Monday.", "Rain fell."]
FILLER = "The council met on Monday and discussed the budget, the roads and the schools of the region at length. " * 3


@pytest.fixture(scope="module")
def model(tiny_encoder) -> SentenceStanceModel:
    torch.manual_seed(1)
    model = SentenceStanceModel.from_encoder(str(tiny_encoder), lora_rank=None, max_length=32, seed=3)
    with torch.no_grad():  # heads far from zero, so targets and sentences differ clearly
        for head in model.heads.values():
            head.weight.normal_(0, 0.2)
            head.bias.normal_(0, 0.5)
    return model.eval()


@pytest.fixture(scope="module")
def saved(model, tmp_path_factory):
    return model.save_pretrained(tmp_path_factory.mktemp("sentence-reader") / "model")


def queries(model, names):
    return [model.targets[name].query for name in names]


def test_each_target_reads_the_sentences_own_encoding(model):
    """score_pairs gives, per (sentence, query), the softmax of that target's row of one forward pass."""
    names = ["nato", "russia", "eu", "west"]
    texts = [text for text in SENTENCES for _ in names]
    scores = model.score_pairs(texts, queries(model, names) * len(SENTENCES))
    with torch.inference_mode():
        logits = model(**model.backbone.tokenize(SENTENCES[:1]))["stance"][0]  # (targets, labels)
    order = list(model.targets)
    expected = torch.softmax(logits / model.head_specs["stance"].temperature, -1).numpy()
    for column, name in enumerate(names):
        assert np.allclose(scores["stance"][column], expected[order.index(name)], atol=1e-5)
    assert not np.allclose(scores["stance"][0], scores["stance"][1], atol=1e-3)  # targets differ
    assert not np.allclose(scores["stance"][0], scores["stance"][4], atol=1e-3)  # sentences differ


def test_scores_do_not_depend_on_order_batch_or_repeats(model):
    names = ["nato", "eu", "nato", "russia", "west", "nato"]
    texts = [SENTENCES[0], SENTENCES[2], SENTENCES[2], SENTENCES[1], SENTENCES[0], SENTENCES[0]]
    together = model.score_pairs(texts, queries(model, names), batch_size=2)
    for i, (text, name) in enumerate(zip(texts, names, strict=True)):
        alone = model.score_pairs([text], queries(model, [name]))
        assert np.allclose(together["stance"][i], alone["stance"][0], atol=1e-5)
        assert np.allclose(together["voice"][i], alone["voice"][0], atol=1e-5)


def test_predict_and_analyze_go_through_the_same_scores(model):
    prediction = model.predict(SENTENCES[0], targets=["nato", "eu"])
    scores = model.score_pairs([SENTENCES[0]] * 2, queries(model, ["nato", "eu"]))
    assert np.allclose(list(prediction.stance["nato"].scores.values()), scores["stance"][0], atol=1e-6)
    assert np.allclose(list(prediction.stance["eu"].scores.values()), scores["stance"][1], atol=1e-6)
    analysis = model.analyze(" ".join(SENTENCES[:2]), gate=False)
    assert [s.text for s in analysis.sentences] == SENTENCES[:2]
    assert np.allclose(list(analysis.sentences[0].stance["nato"].scores.values()), scores["stance"][0], atol=1e-5)


def test_a_query_of_no_target_is_refused(model):
    with pytest.raises(ValueError, match="has no target with the query 'Serbia'"):
        model.score_pairs(SENTENCES[:1], ["Serbia"])


def test_a_long_sentence_takes_its_most_stanced_window_per_target(model):
    text = FILLER + "NATO is a criminal alliance that must be destroyed."
    names = ["nato", "russia"]
    scores = model.score_pairs([text, text], queries(model, names))
    assert scores["windows"][0] == scores["windows"][1] > 1
    logits, owners = model.window_logits([text, text], queries(model, names))
    for i in range(2):
        windows = model.head_specs["stance"].probabilities(logits["stance"][owners == i])
        best = windows[np.argmax(1.0 - windows[:, STANCE_LABELS.index("none")])]
        assert np.allclose(scores["stance"][i], best, atol=1e-6)
    assert not np.allclose(scores["stance"][0], scores["stance"][1], atol=1e-3)


def test_round_trip_keeps_the_reader_and_the_scores(model, saved):
    config = json.loads((saved / "config.json").read_text(encoding="utf-8"))
    assert config["options"]["reader"] == "sentence"
    loaded = StanceModel.from_pretrained(saved)
    assert isinstance(loaded, SentenceStanceModel)
    texts, names = SENTENCES, ["nato", "russia", "eu", "west"]
    before = model.score_pairs(texts, queries(model, names))
    after = loaded.score_pairs(texts, queries(loaded, names))
    assert np.allclose(before["stance"], after["stance"], atol=1e-6)
    assert torch.equal(model.queries, loaded.queries)


def test_a_pair_model_config_has_no_reader(tiny_model_dir):
    assert "reader" not in json.loads((tiny_model_dir / "config.json").read_text(encoding="utf-8"))["options"]
    assert type(StanceModel.from_pretrained(tiny_model_dir)) is StanceModel


def test_an_unknown_reader_is_named_when_loading(saved, tmp_path):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(saved, broken)
    config = json.loads((broken / "config.json").read_text(encoding="utf-8"))
    config["options"]["reader"] = "paragraph"
    (broken / "config.json").write_text(json.dumps(config), encoding="utf-8")
    with pytest.raises(ConfigError, match="options.reader must be one of pair, sentence"):
        StanceModel.from_pretrained(broken)


def test_onnx_runtime_matches_torch(model, saved):
    pytest.importorskip("onnxruntime")
    fast = StanceModel.from_pretrained(saved, runtime="onnx")
    assert isinstance(fast, SentenceStanceModel) and fast.runtime is not None
    names = ["nato", "russia", "eu", "west"]
    texts = [text for text in SENTENCES for _ in names]
    reference = model.score_pairs(texts, queries(model, names) * len(SENTENCES))
    scored = fast.score_pairs(texts, queries(fast, names) * len(SENTENCES))
    assert np.abs(reference["stance"] - scored["stance"]).max() < 0.05
    assert (reference["stance"].argmax(1) == scored["stance"].argmax(1)).mean() >= 0.9


def test_new_queries_start_as_the_encoders_vector_of_the_query_text(tiny_encoder):
    model = SentenceStanceModel.from_encoder(str(tiny_encoder), lora_rank=4, max_length=32)
    with torch.inference_mode():
        expected = model.backbone(**model.backbone.tokenize(queries(model, list(model.targets))))
    assert torch.allclose(model.queries, expected, atol=1e-6)


# ---- training ------------------------------------------------------------------

SEPARABLE = [
    ("NATO is strong and united.", "favor", "favor"),
    ("NATO protects peace.", "favor", "none"),
    ("NATO is an aggressor.", "against", "against"),
    ("NATO brings war.", "against", "none"),
    ("NATO ministers met on Monday.", "neutral", "neutral"),
    ("NATO held a meeting.", "neutral", "none"),
    ("The weather was mild.", "none", "none"),
    ("Belgrade had rain.", "none", "none"),
]


def separable_examples() -> list[StanceExample]:
    """Labels toward NATO and Russia, with Russia unlabelled on half the sentences."""
    rows = []
    for i, (text, nato, russia) in enumerate(SEPARABLE):
        rows.append(StanceExample(text=text, target="nato", label=nato, voice="author", article_id=f"a{i}", sentence_id=0))
        if i % 2 == 0:
            rows.append(StanceExample(text=text, target="russia", label=russia, article_id=f"a{i}", sentence_id=0))
    return rows


def accuracy(model, target: str, column: int, rows=SEPARABLE) -> int:
    predictions = model.predict([text for text, _, _ in rows], targets=[target], gate=False)
    return sum(p.stance[target].label == row[column] for p, row in zip(predictions, rows, strict=True))


def test_training_fits_every_target_of_a_sentence_at_once(tiny_encoder):
    # a sentence's rows are one item (repeated rows too): 8 items a epoch
    args = TrainingArguments(encoder=str(tiny_encoder), epochs=30, batch_size=2, lora_rank=0, learning_rate=3e-3, max_length=32, reader="sentence")
    trainer = Trainer(args, separable_examples() * 2, progress=False)
    assert len(trainer.task.features(trainer.model, trainer.train_examples)) == len(SEPARABLE)
    assert trainer.task.features(trainer.model, separable_examples())[0]["labels"]["stance"] == [
        -100 if name not in ("nato", "russia") else STANCE_LABELS.index({"nato": "favor", "russia": "favor"}[name])
        for name in trainer.model.targets
    ]
    untrained = accuracy(trainer.model, "nato", 1)
    result = trainer.train()
    assert isinstance(result.model, SentenceStanceModel)
    losses = [h["train_loss"] for h in result.history]
    assert losses[-1] < 0.5 * losses[0], losses
    assert accuracy(result.model, "nato", 1) >= 7 > untrained
    assert accuracy(result.model, "russia", 2, SEPARABLE[::2]) == 4  # the sentences labelled toward Russia


def test_rows_of_a_target_the_reader_does_not_learn_are_refused(tiny_encoder):
    args = TrainingArguments(encoder=str(tiny_encoder), epochs=1, lora_rank=0, max_length=32, reader="sentence")
    rows = [*separable_examples(), StanceExample(text="Biden spoke.", target="entity", label="neutral", query="Joe Biden", origin="news.jsonl:7")]
    with pytest.raises(ValueError, match=r"1 rows name a target or query the sentence reader does not learn, e.g. entity \(news.jsonl:7\)"):
        Trainer(args, rows, progress=False).train()


def test_the_recipe_writes_a_sentence_reader_and_goes_on_training_it(tiny_encoder, seed_rows, tmp_path):
    first = tmp_path / "first"
    train_model(TrainingData(data=[str(seed_rows)]), first, encoder=str(tiny_encoder), reader="sentence", epochs=1, max_length=32, progress=False)
    config = json.loads((first / "training_config.json").read_text(encoding="utf-8"))
    assert (config["training"]["reader"], config["training"]["batch_size"]) == ("sentence", 8)
    assert "reads each sentence once for all its targets" in (first / "README.md").read_text(encoding="utf-8")
    second = tmp_path / "second"
    result = train_model(TrainingData(data=[str(seed_rows)]), second, init_model=str(first), epochs=1, progress=False)
    assert isinstance(result.model, SentenceStanceModel)
    assert isinstance(StanceModel.from_pretrained(second), SentenceStanceModel)
    with pytest.raises(ValueError, match=r"keeps the model's own reader \(sentence\): drop --reader pair"):
        train_model(TrainingData(data=[str(seed_rows)]), tmp_path / "third", init_model=str(first), reader="pair", epochs=1, progress=False)
    assert not (tmp_path / "third").exists()
