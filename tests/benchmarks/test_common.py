"""The dev articles every recipe is measured on; the SemEval-2023 rows for continued training, and the
unlabelled ones for distillation: only those whose sentence names a target."""

from __future__ import annotations

import json

from stance.models import sentence_hash, split_sentences
from stance.training.data import SHARED_SEMEVAL2023_EN
from stance.training.distillation import load_transfer_texts

from benchmarks.common import DEFAULT_DATA, dev_article_ids, write_default_split, write_naming_rows, write_unlabelled_naming_rows

ROWS = [
    ("NATO ministers met in Brussels on Tuesday.", True),
    ("The West Coast had a dry summer.", False),  # a non-reference of the West
    ("Farmers harvested wheat early this year.", False),
    ("Moscow rejected the proposal.", True),
]


def test_only_rows_that_name_a_target_are_kept_verbatim(tmp_path):
    source = tmp_path / "rows.jsonl"
    lines = [
        json.dumps({"article_id": "a1", "sentence_id": index, "text": text, "russia": "none", "west": "none", "eu": "none", "nato": "none"})
        for index, (text, _) in enumerate(ROWS)
    ]
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    written = write_naming_rows(source, tmp_path / "naming.jsonl")
    kept = written.read_text(encoding="utf-8").splitlines()
    assert kept == [line for line, (_, named) in zip(lines, ROWS, strict=True) if named]


def test_unlabelled_rows_point_at_the_naming_sentences_of_articles_nobody_labelled(tmp_path, monkeypatch):
    articles = tmp_path / "shared" / SHARED_SEMEVAL2023_EN
    articles.mkdir(parents=True)
    text = " ".join(sentence for sentence, _ in ROWS)
    for article_id in ("article1", "article2"):
        (articles / f"{article_id}.txt").write_text(text, encoding="utf-8")
    labelled = tmp_path / "labelled.jsonl"
    labelled.write_text(json.dumps({"article_id": "article1", "sentence_id": 0, "text": ROWS[0][0], "nato": "neutral"}) + "\n", encoding="utf-8")
    monkeypatch.setenv("STANCE_SHARED", str(tmp_path / "shared"))

    written = write_unlabelled_naming_rows(labelled, tmp_path / "u.jsonl")
    rows = [json.loads(line) for line in written.read_text(encoding="utf-8").splitlines()]
    sentences = [s.text for s in split_sentences(text)]
    named = [index for index, sentence in enumerate(sentences) if dict(ROWS).get(sentence)]
    assert len(named) == 2
    assert rows == [{"article_id": "article2", "sentence_id": index, "sentence_hash": sentence_hash(sentences[index])} for index in named]
    assert load_transfer_texts([written], text_dirs=[articles]) == [sentences[index] for index in named]


def test_the_dev_articles_are_labelled_articles_and_the_split_files_partition_the_rows(tmp_path):
    dev_ids = dev_article_ids()
    rows = {source.name: [json.loads(line) for line in source.read_text(encoding="utf-8").splitlines() if line.strip()] for source in DEFAULT_DATA}
    labelled = {row["article_id"] for source_rows in rows.values() for row in source_rows}
    assert len(dev_ids) == 52 and dev_ids <= labelled
    real = {row["article_id"] for row in rows["urw-dev.jsonl"]} & dev_ids
    assert len(real) == 39

    written = {path.name: [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] for path in write_default_split(tmp_path)}
    for name, source_rows in rows.items():
        dev, train = written.get(f"dev-{name}", []), written.get(f"train-{name}", [])
        assert {row["article_id"] for row in dev} <= dev_ids and not {row["article_id"] for row in train} & dev_ids
        assert sorted(map(json.dumps, dev + train)) == sorted(map(json.dumps, source_rows))  # every row once, unchanged
