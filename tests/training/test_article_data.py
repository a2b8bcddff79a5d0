"""Labelled articles in the organisers' formats and as JSON Lines, validated with file:line;
multi-label metrics; and `stance train/evaluate --task` end to end on a tiny encoder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from jsonl_rows import write_jsonl
from stance.models.framing import ArticleLabelModel
from stance.models.labelsets import default_labelset
from stance.training.article_data import load_article_examples
from stance.training.article_evaluation import multilabel_metrics
from stance.training.data import DataError

from stance.cli import main

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "datasets"
PRAISE = "Putin said the West was hostile to Russia. Russia, the Kremlin, Moscow, Putin and Russian forces"
WEST = "Washington and its Western allies accused Moscow of propaganda. the West, Western governments, Washington, the United States and Britain"
NEITHER = "The weather in Belgrade was mild on Monday. EU foreign ministers met in Brussels to discuss the Balkans."


@pytest.fixture
def articles(tmp_path) -> Path:
    folder = tmp_path / "articles"
    folder.mkdir()
    (folder / "EN_UA_1.txt").write_text(PRAISE, encoding="utf-8")
    (folder / "article222.txt").write_text(WEST, encoding="utf-8")
    (folder / "EN_UA_3.txt").write_text(NEITHER, encoding="utf-8")
    return folder


def test_the_organisers_narratives_file_is_read_as_is(articles, tmp_path):
    labels = tmp_path / "dev-subtask-2-annotations.txt"
    labels.write_text(
        "EN_UA_1.txt\tURW: Praise of Russia;URW: Praise of Russia;CC: Criticism of climate policies\tURW: Praise of Russia: Other\n"
        "222\tURW: Discrediting the West, Diplomacy\tURW: Discrediting the West, Diplomacy: Other\n"
        "EN_UA_3.txt\tOther\tOther\n",
        encoding="utf-8",
    )
    examples = load_article_examples(labels, labelset=default_labelset("narratives"), text_dirs=[articles])
    assert [(ex.article_id, ex.labels) for ex in examples] == [
        ("EN_UA_1.txt", ("URW: Praise of Russia",)),  # repeats once; the climate-change label dropped
        ("222", ("URW: Discrediting the West, Diplomacy",)),  # the comma is part of the name
        ("EN_UA_3.txt", ()),  # Other: no narrative
    ]
    assert examples[1].text == WEST and examples[0].origin == f"{labels}:1"


def test_bad_rows_are_all_named_with_file_and_line(articles, tmp_path):
    labels = tmp_path / "labels.txt"
    labels.write_text("EN_UA_1.txt\tURW: Praise of Putin\n\nEN_UA_9.txt\tOther\nno-tab-here\nEN_UA_1.txt\tOther\n", encoding="utf-8")
    with pytest.raises(DataError) as error:
        load_article_examples(labels, labelset=default_labelset("narratives"), text_dirs=[articles])
    message = str(error.value)
    assert f"{labels}:1: unknown narratives label(s) ['URW: Praise of Putin']" in message
    assert f"{labels}:3: no text for article EN_UA_9.txt" in message
    assert f"{labels}:4: expected 'article_id<TAB>labels'" in message
    assert "4 invalid row(s)" not in message and "3 invalid row(s)" in message  # line 5 is fine: line 1 was invalid


def test_json_lines_with_text_or_a_pointer(articles, tmp_path):
    rows = write_jsonl(
        tmp_path / "frames.jsonl",
        [
            {"article_id": "a", "text": "Prices rose.", "labels": ["Economic", "Political"]},
            {"article_id": "222", "labels": []},
            {"article_id": "b", "text": "x", "labels": "Economic"},
            {"article_id": "a", "text": "again", "labels": []},
        ],
    )
    with pytest.raises(DataError) as error:
        load_article_examples(rows, labelset=default_labelset("frames"), text_dirs=[articles])
    assert f"{rows}:3: 'labels' must be a list" in str(error.value)
    assert f"{rows}:4: article a is labelled twice (also at {rows}:1)" in str(error.value)
    good = write_jsonl(tmp_path / "good.jsonl", [{"article_id": "a", "text": "Prices rose.", "labels": ["Political", "Economic"]}, {"article_id": "222", "labels": []}])
    examples = load_article_examples(good, labelset=default_labelset("frames"), text_dirs=[articles])
    assert [(ex.labels, ex.text) for ex in examples] == [(("Economic", "Political"), "Prices rose."), ((), WEST)]


def test_multilabel_metrics_by_hand():
    gold = [["a", "b"], ["a"], ["Other"]]
    predicted = [["a"], ["a", "b"], ["Other"]]
    metrics = multilabel_metrics(gold, predicted, ["a", "b", "Other"])
    # micro: tp a 2, b 0, Other 1 = 3; fp 1 (b); fn 1 (b) -> 6 / (6 + 2)
    assert metrics["micro_f1"] == pytest.approx(0.75)
    assert metrics["macro_f1"] == pytest.approx((1.0 + 0.0 + 1.0) / 3)
    assert metrics["samples_f1"] == pytest.approx((2 / 3 + 2 / 3 + 1.0) / 3)
    assert metrics["labels"]["b"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}


@pytest.mark.skipif(not (SHARED / "semeval2023-task3").is_dir(), reason="needs ../shared")
def test_the_shared_organisers_files_load_whole():
    frames = load_article_examples(SHARED / "semeval2023-task3/en/train-labels-subtask-2.txt", labelset=default_labelset("frames"))
    narratives = load_article_examples(SHARED / "semeval2025-urw/dev-subtask-2-annotations.txt", labelset=default_labelset("narratives"))
    assert (len(frames), len(narratives)) == (433, 182)
    assert all(ex.labels for ex in frames)


def test_train_and_evaluate_a_narratives_model_from_the_command_line(articles, tiny_encoder, tmp_path, capsys):
    rows = [
        {"article_id": f"{prefix}{i}", "text": text, "labels": labels}
        for prefix in ("p", "q", "r", "s")
        for i, (text, labels) in enumerate([(PRAISE, ["URW: Praise of Russia"]), (WEST, ["URW: Discrediting the West, Diplomacy"]), (NEITHER, ["Other"])])
    ]
    data = write_jsonl(tmp_path / "narratives.jsonl", rows)
    output = tmp_path / "model"
    code = main(["train", "--task", "narratives", "--data", str(data), "--output", str(output), "--encoder", str(tiny_encoder), "--lora-rank", "0",
                 "--max-length", "32", "--epochs", "2", "--batch-size", "4", "--dev-fraction", "0.34", "--quiet", "--name", "toy"])  # fmt: skip
    assert code == 0
    model = ArticleLabelModel.from_pretrained(output)
    assert model.task == "narratives" and model.model_name == "toy"
    config = json.loads((output / "training_config.json").read_text(encoding="utf-8"))
    assert config["task"] == "narratives" and set(config["dev_metrics"]) == {"micro_f1", "macro_f1", "samples_f1", "articles"}
    out = tmp_path / "eval"
    assert main(["evaluate", "--task", "narratives", "--model", str(output), "--data", str(data), "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["articles"] == 12 and set(metrics["labels"]) == set(default_labelset("narratives").output_labels)
    assert {"predictions.jsonl", "classification_report.txt", "label_f1.png"} <= {p.name for p in out.iterdir()}
    predictions = [json.loads(line) for line in (out / "predictions.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(predictions) == 12 and all(len(p["scores"]) == 11 for p in predictions)
    capsys.readouterr()
    assert main(["evaluate", "--task", "frames", "--model", str(output), "--data", str(data), "--out", str(out)]) == 2
    assert "is a narratives model, not a frames model" in capsys.readouterr().err
    assert main(["train", "--task", "frames", "--data", str(data), "--output", str(tmp_path / "x"), "--init-model", str(output)]) == 2
    assert "--init-model, --targets-file, --reader and --int8-ffn-output are for the stance task" in capsys.readouterr().err
