"""`stance analyze`: one row per article with the stance summary, frames, narratives and the
sentences as `predict --split` writes them, from the same validated rows as `predict`."""

from __future__ import annotations

import csv
import json

import pytest
from jsonl_rows import write_jsonl
from stance.models.framing import ArticleReader
from stance.models.labelsets import default_labelset

from stance.cli import main

ARTICLE = (
    "NATO ministers meet in Brussels\n\n"
    "The alliance condemned the Kremlin's aggression. The U.S. ambassador met Gen. Smith on Monday.\n"
    "“We will never join NATO,” he said.\n"
)
ROWS = [{"id": "doc-1", "outlet": "AP", "text": ARTICLE}, {"id": 2, "text": "Rain fell in Belgrade.", "meta": {"page": 3}}]


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture
def models(tiny_model_dir, tiny_framing_dirs) -> list[str]:
    return ["--model", str(tiny_model_dir), "--frames-model", str(tiny_framing_dirs["frames"]),
            "--narratives-model", str(tiny_framing_dirs["narratives"]), "--runtime", "torch"]  # fmt: skip


def test_analyze_writes_one_row_per_article_with_every_task(tmp_path, models, tiny_model_dir, tiny_framing_dirs, capsys):
    source = write_jsonl(tmp_path / "articles.jsonl", ROWS)
    output = tmp_path / "analyses.jsonl"
    assert main(["analyze", "--input", str(source), "--output", str(output), *models]) == 0
    assert "2 articles analysed (stance, frames, narratives)" in capsys.readouterr().err
    rows = read_jsonl(output)
    assert [(row["id"], "text" in row) for row in rows] == [("doc-1", False), (2, False)]
    assert rows[0]["outlet"] == "AP" and rows[1]["meta"] == {"page": 3}
    expected = ArticleReader.load(tiny_framing_dirs.values()).analyze_many([row["text"] for row in ROWS])
    for row, found in zip(rows, expected, strict=True):
        assert set(row["summary"]) == {"russia", "west", "eu", "nato"}
        for task in ("frames", "narratives"):
            assert list(row[task]["scores"]) == list(default_labelset(task).labels)  # every label, named as the organisers do
            assert row[task]["labels"] == found[task].labels
            assert row[task]["scores"] == pytest.approx(found[task].scores, abs=1e-5)
            for label, sentences in row[task]["evidence"].items():
                assert label in row[task]["labels"] and [s["index"] for s in sentences] == found[task].evidence[label]
                article = next(r["text"] for r in ROWS if r["id"] == row["id"])
                assert all(article[s["start"] : s["end"]] == s["text"] for s in sentences)
    assert "URW: Discrediting the West, Diplomacy" in rows[0]["narratives"]["scores"]
    # the sentences are those of predict --split, without the article's fields
    split = tmp_path / "split.jsonl"
    assert main(["predict", "--split", "--model", str(tiny_model_dir), "--runtime", "torch", "--input", str(source), "--output", str(split)]) == 0
    article_fields = {"id", "outlet", "meta"}
    by_sentence = [{k: v for k, v in row.items() if k not in article_fields} for row in read_jsonl(split)]
    assert [s for row in rows for s in row["sentences"]] == by_sentence


def test_analyze_chooses_tasks_and_can_leave_out_sentences(tmp_path, models):
    source = tmp_path / "articles.csv"
    with source.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["id", "text"])
        writer.writeheader()
        writer.writerows([{"id": "c1", "text": ARTICLE}])
    output = tmp_path / "analyses.jsonl"
    assert main(["analyze", "--input", str(source), "--output", str(output), "--tasks", "frames", "--no-sentences", *models]) == 0
    (row,) = read_jsonl(output)
    assert set(row) == {"id", "frames"}
    assert main(["analyze", "--input", str(source), "--output", str(output), "--tasks", "narratives,stance", "--targets", "nato", *models]) == 0
    (row,) = read_jsonl(output)
    assert set(row) == {"id", "summary", "narratives", "sentences"} and set(row["summary"]) == {"nato"}
    assert all(set(s["stance"]) == {"nato"} for s in row["sentences"])


def test_analyze_refuses_unknown_tasks_bad_rows_and_missing_models(tmp_path, models, capsys):
    output = tmp_path / "analyses.jsonl"
    output.write_text("old\n", encoding="utf-8")
    source = write_jsonl(tmp_path / "articles.jsonl", [ROWS[0], {"id": "x", "text": "  "}, ROWS[1]])
    assert main(["analyze", "--input", str(source), "--output", str(output), *models]) == 2
    assert f"{source}:2" in capsys.readouterr().err
    assert output.read_text(encoding="utf-8") == "old\n"  # nothing written over it
    assert main(["analyze", "--input", str(source), "--output", str(output), "--tasks", "frames,moods", *models]) == 2
    assert "unknown task(s) 'moods'" in capsys.readouterr().err
    assert main(["analyze", "--input", str(source), "--output", str(output), "--frames-model", str(tmp_path)]) == 2
    assert "--frames-model" in capsys.readouterr().err and output.read_text(encoding="utf-8") == "old\n"
    assert main(["analyze", "--input", str(source), "--output", str(output), "--skip-bad-rows", "--tasks", "frames", *models]) == 0
    assert len(read_jsonl(output)) == 2 and "1 rows without text skipped" in capsys.readouterr().err
