"""Distillation: a sentence-reader student learns its teacher's probabilities where no gold label is."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from stance.models import STANCE_LABELS, StanceModel
from stance.models.sentence_reader import SentenceStanceModel
from stance.training.arguments import TrainingArguments
from stance.training.data import DataError, StanceExample
from stance.training.distillation import DistillationTask, load_transfer_texts, teacher_probabilities
from stance.training.recipe import TrainingData, train_model
from stance.training.trainer import Trainer

GOLD = ["Moscow praised the deal.", "Russia is an aggressor.", "The Kremlin met envoys.", "Rain fell on Monday."]
TRANSFER = ["NATO met in Brussels.", "The alliance sent jets.", "Ministers spoke at length.", "Troops crossed the border."]


def biased_teacher(encoder, directory, nato_bias):
    """A teacher whose stance toward NATO is ``nato_bias`` (logits) for every sentence, and `none` toward the others."""
    model = SentenceStanceModel.from_encoder(str(encoder), lora_rank=None, max_length=32)
    with torch.no_grad():
        bias = model.heads["stance"].bias
        bias.zero_()
        bias[:, STANCE_LABELS.index("none")] = 4.0
        bias[list(model.targets).index("nato")] = torch.tensor(nato_bias)
    return model.save_pretrained(directory)


@pytest.fixture(scope="module")
def teacher(tiny_encoder, tmp_path_factory):
    """A teacher that reads every sentence as `favor` toward NATO and `none` toward the others."""
    return biased_teacher(tiny_encoder, tmp_path_factory.mktemp("teacher") / "model", [4.0, 0.0, 0.0, 0.0])


@pytest.fixture(scope="module")
def against_teacher(tiny_encoder, tmp_path_factory):
    """Another teacher: `against` NATO, more confidently."""
    return biased_teacher(tiny_encoder, tmp_path_factory.mktemp("against-teacher") / "model", [0.0, 6.0, 1.0, 0.0])


def gold_examples() -> list[StanceExample]:
    labels = ["favor", "against", "neutral", "none"]
    return [StanceExample(text=text, target="russia", label=label, article_id=f"g{i}") for i, (text, label) in enumerate(zip(GOLD, labels, strict=True))]


def nato_favor(model, texts) -> np.ndarray:
    return np.array([p.stance["nato"].scores["favor"] for p in model.predict(texts, targets=["nato"])])


def test_teacher_probabilities_are_its_scores_per_sentence_and_target(teacher):
    model = StanceModel.from_pretrained(teacher)
    probabilities = teacher_probabilities(model, TRANSFER[:2], ["nato", "eu"])
    assert probabilities.shape == (2, 2, len(STANCE_LABELS))
    scores = model.score_pairs([TRANSFER[1]], [model.targets["eu"].query])["stance"][0]
    assert np.allclose(probabilities[1, 1], scores, atol=1e-6)
    assert (probabilities[:, 0].argmax(-1) == STANCE_LABELS.index("favor")).all()


def test_several_teachers_teach_their_mean_probabilities(teacher, against_teacher, tiny_encoder):
    models = [StanceModel.from_pretrained(teacher), StanceModel.from_pretrained(against_teacher)]
    each = [teacher_probabilities(model, TRANSFER, ["nato", "russia"]) for model in models]
    assert not np.allclose(each[0], each[1], atol=0.1)
    assert np.allclose(teacher_probabilities(models, TRANSFER, ["nato", "russia"]), (each[0] + each[1]) / 2, atol=1e-6)
    task = DistillationTask(models, TRANSFER[:2])
    features = task.features(SentenceStanceModel.from_encoder(str(tiny_encoder), lora_rank=None, max_length=32), [])
    nato = list(models[0].targets).index("nato")
    assert np.allclose([row["labels"]["teacher"][nato] for row in features], (each[0][:2, 0] + each[1][:2, 0]) / 2, atol=1e-5)


@pytest.mark.parametrize("weight", [1.0, 0.0])
def test_the_student_learns_the_teacher_where_no_gold_label_is(teacher, tiny_encoder, weight):
    args = TrainingArguments(encoder=str(tiny_encoder), epochs=6, batch_size=2, lora_rank=0, learning_rate=3e-3, max_length=32, reader="sentence")
    task = DistillationTask.from_arguments(args, teacher=StanceModel.from_pretrained(teacher), transfer_texts=TRANSFER, distill_weight=weight)
    trainer = Trainer(args, gold_examples(), task=task, progress=False)
    assert len(task.features(trainer.model, gold_examples())) == len(GOLD) + len(TRANSFER)
    before = nato_favor(trainer.model, TRANSFER)
    result = trainer.train()
    assert all(np.isfinite(h["train_loss"]) for h in result.history)  # batches of transfer sentences only included
    after = nato_favor(result.model, TRANSFER)
    if weight:
        assert after.min() > 0.8 > before.max(), (before, after)
    else:  # no gold label toward NATO and no teacher: it stays near chance (only the shared encoder moved)
        assert after.max() < 0.4, after


def test_load_transfer_texts_reads_text_and_pointer_rows_and_names_bad_lines(tmp_path):
    (tmp_path / "texts").mkdir()
    (tmp_path / "texts" / "art1.txt").write_text("NATO met. Russia spoke.", encoding="utf-8")
    from stance.models import sentence_hash

    rows = tmp_path / "transfer.jsonl"
    rows.write_text(
        json.dumps({"text": "A first sentence.", "russia": "favor"}) + "\n"
        + json.dumps({"text": "A first sentence."}) + "\n"
        + json.dumps({"article_id": "art1", "sentence_id": 1, "sentence_hash": sentence_hash("Russia spoke.")}) + "\n",
        encoding="utf-8",
    )  # fmt: skip
    assert load_transfer_texts([rows], text_dirs=[tmp_path / "texts"]) == ["A first sentence.", "Russia spoke."]
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"text": "fine."}) + "\n" + json.dumps({"id": 3}) + "\n{oops\n", encoding="utf-8")
    with pytest.raises(DataError) as error:
        load_transfer_texts([bad], text_dirs=[tmp_path / "texts"])
    assert f"{bad}:2: missing column 'text'" in str(error.value) and f"{bad}:3: bad JSON" in str(error.value)


def test_the_recipe_trains_a_student_and_keeps_dev_sentences_out_of_transfer(teacher, tiny_encoder, seed_rows, tmp_path):
    dev_rows = [json.loads(line) for line in seed_rows.read_text(encoding="utf-8").splitlines()[:40]]
    dev = tmp_path / "dev.jsonl"
    dev.write_text("".join(json.dumps(row) + "\n" for row in dev_rows), encoding="utf-8")
    transfer = tmp_path / "transfer.jsonl"
    transfer.write_text("".join(json.dumps({"text": text}) + "\n" for text in [*TRANSFER, dev_rows[0]["text"]]), encoding="utf-8")
    output = tmp_path / "student"
    rows = TrainingData(data=[str(seed_rows)], dev_data=[str(dev)], transfer_data=[str(transfer)])
    result = train_model(rows, output, encoder=str(tiny_encoder), reader="sentence", teacher=str(teacher), epochs=1, max_length=32, progress=False)
    assert isinstance(result.model, SentenceStanceModel)
    config = json.loads((output / "training_config.json").read_text(encoding="utf-8"))
    assert config["data"]["transfer sentences"] == len(TRANSFER)  # the dev sentence is left out
    assert (config["data"]["teacher"], config["training"]["teacher"], config["training"]["distill_weight"]) == (str(teacher), str(teacher), 1.0)
    with pytest.raises(ValueError, match="add --teacher"):
        train_model(TrainingData(data=[str(seed_rows)], transfer_data=[str(transfer)]), tmp_path / "x", encoder=str(tiny_encoder), reader="sentence")
    with pytest.raises(ValueError, match="add --reader sentence"):
        train_model(TrainingData(data=[str(seed_rows)]), tmp_path / "x", encoder=str(tiny_encoder), teacher=str(teacher))
    assert not (tmp_path / "x").exists()


def test_the_command_line_takes_several_teachers(teacher, against_teacher, tiny_encoder, seed_rows, tmp_path):
    from stance.cli import main

    rows = tmp_path / "rows.jsonl"
    rows.write_text("".join(line + "\n" for line in seed_rows.read_text(encoding="utf-8").splitlines()[:40]), encoding="utf-8")
    output = tmp_path / "student"
    argv = ["train", "--data", str(rows), "--output", str(output), "--encoder", str(tiny_encoder), "--reader", "sentence", "--epochs", "1"]
    assert main([*argv, "--max-length", "32", "--quiet", "--teacher", str(teacher), str(against_teacher)]) == 0
    config = json.loads((output / "training_config.json").read_text(encoding="utf-8"))
    assert config["training"]["teacher"] == config["data"]["teacher"] == [str(teacher), str(against_teacher)]
