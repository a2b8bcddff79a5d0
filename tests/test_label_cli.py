"""`stance label` end to end: tasks for Label Studio and doccano from articles, the interface,
and a round of the loop (tasks, answered, exported, trained and evaluated on)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from jsonl_rows import write_jsonl
from stance.models import StanceModel, default_targets, split_sentences
from stance.training.selection import score_articles, select_sentences

from stance.cli import main

ARTICLES = [
    {"id": "wire-1", "text": "NATO ministers meet in Brussels\n\nThe alliance condemned the Kremlin's aggression. Moscow denied it.\n"
     "“We will never join NATO,” he said. The weather in Belgrade was mild."},
    {"id": "wire-2", "text": "Brussels praised the bloc's unity on sanctions against Russia. Putin said the West was hostile to Russia. "
     "The European Union is a guarantor of peace on the continent."},
]  # fmt: skip
SENTENCES = sum(len(split_sentences(article["text"])) for article in ARTICLES)


@pytest.fixture(autouse=True)
def torch_runtime(monkeypatch):
    monkeypatch.setenv("STANCE_RUNTIME", "torch")


@pytest.fixture
def articles(tmp_path) -> Path:
    return write_jsonl(tmp_path / "articles.jsonl", ARTICLES)


def label(*argv: str) -> int:
    return main(["label", *argv])


def test_label_studio_tasks_hold_the_least_sure_sentences_with_the_model_as_prediction(tmp_path, articles, tiny_model_dir, capsys):
    output = tmp_path / "tasks.json"
    assert label("--input", str(articles), "--output", str(output), "--model", str(tiny_model_dir), "--n", "3", "--context", "1") == 0
    assert "3 of 8 sentences" in capsys.readouterr().err
    tasks = json.loads(output.read_text(encoding="utf-8"))
    model = StanceModel.from_pretrained(tiny_model_dir)
    expected = select_sentences(score_articles(model, [(a["id"], a["text"]) for a in ARTICLES], context=1), how="uncertain", n=3)
    assert [(t["data"]["article_id"], t["data"]["sentence_index"]) for t in tasks] == [(s.article_id, s.sentence_index) for s in expected]
    assert len({t["data"]["article_id"] for t in tasks}) == 2  # spread over both articles
    for task, sentence in zip(tasks, expected, strict=True):
        texts = [s.text for s in split_sentences(next(a["text"] for a in ARTICLES if a["id"] == sentence.article_id))]
        index = sentence.sentence_index
        assert task["data"]["text"] == texts[index]
        assert task["data"]["before"] == " ".join(texts[max(0, index - 1) : index])
        assert task["data"]["after"] == " ".join(texts[index + 1 : index + 2])
        (prediction,) = task["predictions"]
        assert prediction["score"] == pytest.approx(sentence.uncertainty, abs=1e-4)
        picked = {r["from_name"]: r["value"]["choices"][0] for r in prediction["result"]}
        assert picked == {**{n: s.label for n, s in sentence.stance.items()}, "voice": sentence.voice.label}
        assert "annotations" not in task


def test_later_rounds_exclude_what_earlier_rounds_chose(tmp_path, articles, tiny_model_dir):
    first, second = tmp_path / "r1.json", tmp_path / "r2.jsonl"
    common = ["--input", str(articles), "--model", str(tiny_model_dir)]
    assert label(*common, "--output", str(first), "--select", "random", "--n", "3") == 0
    assert label(*common, "--output", str(second), "--select", "all", "--tool", "doccano", "--exclude", str(first)) == 0
    earlier = {(t["data"]["article_id"], t["data"]["sentence_index"]) for t in json.loads(first.read_text(encoding="utf-8"))}
    later = [json.loads(line) for line in second.read_text(encoding="utf-8").splitlines()]
    assert len(earlier) == 3 and len(later) == SENTENCES - 3
    assert not earlier & {(row["article_id"], row["sentence_index"]) for row in later}


def test_doccano_tasks_show_the_model_as_metadata_and_no_labels(tmp_path, articles, tiny_model_dir):
    output = tmp_path / "tasks.jsonl"
    assert label("--input", str(articles), "--output", str(output), "--model", str(tiny_model_dir), "--tool", "doccano", "--select", "all") == 0
    rows = [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == SENTENCES
    for row in rows:
        assert row["label"] == []
        assert [label.split(":")[0] for label in row["model_labels"].split()] == ["russia", "west", "eu", "nato", "voice"]
        assert set(row) == {"text", "article_id", "sentence_index", "before", "after", "model_labels", "model_margin", "label"}


def test_config_prints_the_interface_for_the_targets_in_use(tmp_path, tiny_model_dir, capsys):
    assert label("--config") == 0
    names = [c.get("name") for c in ET.fromstring(capsys.readouterr().out).iter("Choices")]
    assert names == ["russia", "west", "eu", "nato", "voice"]
    own = default_targets().to_dict()
    own["targets"] = [t for t in own["targets"] if t["name"] in ("eu", "nato")]
    targets_file = tmp_path / "targets.json"
    targets_file.write_text(json.dumps(own), encoding="utf-8")
    assert label("--config", "--targets-file", str(targets_file)) == 0
    assert [c.get("name") for c in ET.fromstring(capsys.readouterr().out).iter("Choices")] == ["eu", "nato", "voice"]
    assert label("--config", "--tool", "doccano", "--targets-file", str(targets_file)) == 0
    assert [item["text"] for item in json.loads(capsys.readouterr().out)][:2] == ["eu:favor", "eu:against"]


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["--output", "x.json"], "--input and --output are needed"),
        (["--input", "a.jsonl", "--output", "x.json", "--targets-file", "t.json"], "--targets-file goes with --config"),
        (["--config", "--model", "no-such-model"], "no-such-model/targets.json: no such file"),
    ],
)
def test_label_usage_errors_exit_2_and_write_nothing(tmp_path, monkeypatch, capsys, argv, fragment):
    monkeypatch.chdir(tmp_path)
    assert label(*argv) == 2
    assert fragment in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_one_round_of_the_loop_trains_and_evaluates_on_the_export(tmp_path, articles, tiny_model_dir, tiny_encoder, caplog):
    tasks_file = tmp_path / "tasks.json"
    assert label("--input", str(articles), "--output", str(tasks_file), "--model", str(tiny_model_dir), "--select", "all") == 0
    tasks = json.loads(tasks_file.read_text(encoding="utf-8"))
    export = []
    for number, task in enumerate(tasks, 1):  # an annotator accepts the model's labels, then corrects nato on every task
        result = [dict(r) for r in task["predictions"][0]["result"]]
        corrected = [{**r, "value": {"choices": ["against"]}} if r["from_name"] == "nato" else r for r in result]
        annotations = [
            {"id": 2 * number, "result": result, "was_cancelled": False, "updated_at": "2026-11-30T10:00:00Z"},
            {"id": 2 * number + 1, "result": corrected, "was_cancelled": False, "updated_at": "2026-11-30T11:00:00Z"},
        ]
        export.append({"id": number, **task, "annotations": annotations if number > 1 else [{"id": 1, "result": [], "was_cancelled": True}]})
    export_file = tmp_path / "project-1-at-2026-11-30.json"
    export_file.write_text(json.dumps(export), encoding="utf-8")

    output = tmp_path / "model"
    argv = ["train", "--data", str(export_file), "--output", str(output), "--encoder", str(tiny_encoder), "--epochs", "1", "--max-length", "32", "--quiet"]
    assert main(argv) == 0
    assert f"{SENTENCES - 1} labelled task(s), 1 skipped or cancelled left out (task 1)" in caplog.text  # on stderr from the command line
    config = json.loads((output / "training_config.json").read_text(encoding="utf-8"))
    assert config["data"]["train pairs"] + config["data"]["dev pairs"] == 4 * (SENTENCES - 1)
    assert config["data"]["train labels"]["against"] >= config["data"]["train pairs"] // 4  # the newest annotation: nato against

    out = tmp_path / "eval"
    assert main(["evaluate", "--model", str(output), "--data", str(export_file), "--out", str(out), "--targets", "nato"]) == 0
    predictions = [json.loads(line) for line in (out / "predictions.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(predictions) == SENTENCES - 1
    assert {p["gold"] for p in predictions} == {"against"}
    assert {(p["article_id"], p["sentence_id"]) for p in predictions} == {(t["data"]["article_id"], t["data"]["sentence_index"]) for t in tasks[1:]}
