"""The project's own labelled data: the seed corpus meets its coverage, the real-article and
claim labels join their text from ../shared, and no sentence of those sources is in the repo."""

from __future__ import annotations

import csv
import json
import subprocess
from collections import Counter
from pathlib import Path

import pytest
from stance.models import default_targets, sentence_hash, split_sentences
from stance.training.data import DataError, load_examples, numbered_line_articles

from benchmarks.behaviour import read_checklist

REPO = Path(__file__).resolve().parents[2]
SEEDS = REPO / "seeds"
URW_DEV = REPO.parent / "shared" / "datasets" / "semeval2025-urw" / "dev"
SEMEVAL2023_EN = REPO.parent / "shared" / "datasets" / "semeval2023-task3" / "en" / "train-articles-subtask-2"
SEMEVAL2023_EN_DEV = REPO.parent / "shared" / "datasets" / "semeval2023-task3" / "en" / "dev-labels-subtask-3.template"
CLAIMS = REPO.parent / "shared" / "datasets" / "euvsdisinfo-claims" / "posts.csv"
WRITTEN_CORPORA = {"corpus-hard-cases.jsonl": 450, "corpus-contrasts.jsonl": 600, "corpus-reports.jsonl": 750, "corpus-articles.jsonl": 1300}  # our own text, sentences at least
CLAIM_BATCHES = ("euvsdisinfo-claims", "euvsdisinfo-claims-2")  # seeds/labels files of claim labels
needs_shared = pytest.mark.skipif(not URW_DEV.is_dir(), reason="../shared/datasets is not beside the repository")


def passes_and_labels(name: str) -> tuple[list[dict], list[dict]]:
    """The two labelling passes of ``seeds/labels/<name>`` and its adjudicated rows."""
    return [[json.loads(line) for line in (SEEDS / "labels" / f"{name}{suffix}").open()] for suffix in (".passes.jsonl", ".jsonl")]


def pointers(rows: list[dict], keys=("article_id", "sentence_id", "sentence_hash")) -> list[tuple]:
    return [tuple(row[key] for key in keys) for row in rows]


def test_seed_corpus_covers_every_target_with_favor_and_against():
    examples = load_examples(SEEDS / "corpus.jsonl", targets=default_targets())
    sentences = {(ex.article_id, ex.sentence_id) for ex in examples}
    assert len(sentences) >= 600
    counts = Counter((ex.target, ex.label) for ex in examples)
    for target in default_targets():
        assert counts[target, "favor"] >= 50, target  # west: 59 after guide v2 made officials' position statements neutral
        assert counts[target, "against"] >= 60, target
    assert {ex.voice for ex in examples} == {"author", "reported"}


@pytest.mark.parametrize(("corpus", "sentences"), WRITTEN_CORPORA.items())
def test_written_corpora_are_single_sentences(corpus, sentences):
    texts = {ex.text for ex in load_examples(SEEDS / corpus, targets=default_targets())}
    assert len(texts) >= sentences
    assert all(len(split_sentences(text)) == 1 for text in texts)


def test_contrast_corpus_gives_two_targets_different_stances():
    examples = load_examples(SEEDS / "corpus-contrasts.jsonl", targets=default_targets())
    labels = {}
    for ex in examples:
        labels.setdefault((ex.article_id, ex.sentence_id), {})[ex.target] = ex.label
    referred = [{label for label in sentence.values() if label != "none"} for sentence in labels.values()]
    assert sum(len(stances) >= 2 for stances in referred) >= 150
    assert sum(ex.target == "russia" and ex.label == "favor" for ex in examples) >= 90


def test_reports_corpus_sets_plain_reports_of_russia_beside_favour_voiced_by_sources():
    examples = load_examples(SEEDS / "corpus-reports.jsonl", targets=default_targets())
    russia = Counter((ex.label, ex.voice) for ex in examples if ex.target == "russia")
    assert russia["neutral", "author"] + russia["neutral", "reported"] >= 250
    assert russia["favor", "reported"] >= 90 and russia["favor", "author"] >= 40
    assert sum(ex.target == "west" and ex.label == "favor" and ex.voice == "reported" for ex in examples) >= 15


def test_article_corpus_holds_whole_articles_whose_stances_sit_among_plain_sentences():
    examples = load_examples(SEEDS / "corpus-articles.jsonl", targets=default_targets())
    sentences = Counter(ex.article_id for ex in examples if ex.target == "russia")
    assert len(sentences) >= 70 and min(sentences.values()) >= 15
    for target in default_targets():
        labels = Counter(ex.label for ex in examples if ex.target == target)
        assert labels["none"] > labels.total() / 2 and labels["against"] >= 40
    author = Counter((ex.target, ex.label) for ex in examples if ex.voice == "author")
    assert author["russia", "favor"] >= 40 and author["west", "against"] >= 100


@pytest.mark.parametrize("corpus", ["corpus-contrasts", "corpus-reports", "corpus-articles"])
def test_blind_labelled_corpora_keep_both_passes_of_every_sentence(corpus):
    examples = load_examples(SEEDS / f"{corpus}.jsonl", targets=default_targets())
    passes = [json.loads(line) for line in (SEEDS / f"{corpus}.passes.jsonl").open(encoding="utf-8")]
    texts = {(ex.article_id, ex.sentence_id): ex.text for ex in examples}
    assert [(p["article_id"], p["sentence_id"], p["sentence_hash"]) for p in passes] == [
        (*key, sentence_hash(text)) for key, text in texts.items()
    ]


@pytest.mark.parametrize(
    ("checklist", "targets"),
    [("hard-cases", set(default_targets())), ("distractors", set(default_targets())), ("blind-cases", set(default_targets())), ("blind-eu", {"eu"})],
)
def test_behaviour_checklists_are_apart_from_the_training_corpora(checklist, targets):
    seen = {
        ex.text.casefold()
        for corpus in ("corpus.jsonl", *WRITTEN_CORPORA)
        for ex in load_examples(SEEDS / corpus, targets=default_targets())
    } | {json.loads(line)["text"].casefold() for line in (SEEDS / "examples.jsonl").open(encoding="utf-8")}
    rows = read_checklist(SEEDS / "behaviour" / f"{checklist}.jsonl")
    assert len(rows) >= 60
    assert not seen & {row["text"].casefold() for row in rows}
    assert {row["label"] for row in rows} <= {"favor", "against", "neutral", "none"}
    assert {row["target"] for row in rows} == targets
    assert all(row.get("voice", "author") in {"author", "reported"} for row in rows)
    assert Counter(row["case"] for row in rows).most_common()[-1][1] >= 8  # every case large enough to read


def test_seed_article_labels_join_the_shipped_text():
    examples = load_examples(SEEDS / "labels" / "seed-article.jsonl", targets=default_targets())
    nato = {ex.text: ex.label for ex in examples if ex.target == "nato"}
    assert any("Serbia will never join NATO" in text and label == "against" for text, label in nato.items())


def test_pointer_rows_without_shared_say_where_to_get_the_text(monkeypatch, tmp_path):
    monkeypatch.setenv("STANCE_SHARED", str(tmp_path / "nowhere"))
    row = json.loads((SEEDS / "labels" / "urw-dev.jsonl").open().readline())
    rows = tmp_path / "one.jsonl"
    rows.write_text(json.dumps(row) + "\n")
    with pytest.raises(DataError, match="shared") as error:
        load_examples(rows, targets=default_targets(), text_dirs=[tmp_path / "nowhere"])
    assert f"{rows}:1" in str(error.value)


@needs_shared
def test_real_article_labels_cover_every_sentence_of_every_dev_article():
    examples = load_examples(SEEDS / "labels" / "urw-dev.jsonl", targets=default_targets())
    labelled = Counter(ex.article_id for ex in examples)
    for path in URW_DEV.glob("*.txt"):
        assert labelled[path.stem] == 4 * len(split_sentences(path.read_text(encoding="utf-8"))), path.stem


@needs_shared
def test_semeval2023_labels_cover_every_sentence_of_their_articles_and_pass_history_matches():
    examples = load_examples(SEEDS / "labels" / "semeval2023-train.jsonl", targets=default_targets())
    labelled = Counter(ex.article_id for ex in examples)
    assert len(labelled) >= 150 and len(examples) >= 4 * 8000
    for article_id, pairs in labelled.items():
        path = SEMEVAL2023_EN / f"{article_id}.txt"
        assert pairs == 4 * len(split_sentences(path.read_text(encoding="utf-8"))), article_id
    passes, final = passes_and_labels("semeval2023-train")
    assert pointers(passes) == pointers(final)
    assert not set(labelled) & {path.stem for path in URW_DEV.glob("*.txt")}


@needs_shared
def test_semeval2023_dev_labels_cover_every_sentence_of_their_articles_and_pass_history_matches():
    examples = load_examples(SEEDS / "labels" / "semeval2023-dev.jsonl", targets=default_targets())
    labelled = Counter(ex.article_id for ex in examples)
    articles = numbered_line_articles(SEMEVAL2023_EN_DEV)
    assert len(labelled) >= 80 and all(article_id.startswith("semeval2023-dev:") for article_id in labelled)
    for article_id, pairs in labelled.items():
        assert pairs == 4 * len(articles[article_id.partition(":")[2]]), article_id
    counts = Counter((ex.target, ex.label) for ex in examples)
    assert counts["eu", "against"] >= 100 and counts["eu", "neutral"] >= 200
    passes, final = passes_and_labels("semeval2023-dev")
    assert pointers(passes) == pointers(final)
    agreed = [(p, r) for p, r in zip(passes, final, strict=True) if p["pass_a"] == p["pass_b"]]
    assert len(agreed) >= 0.9 * len(passes)
    assert all([r[f] for f in ("russia", "west", "eu", "nato", "voice")] == p["pass_a"] for p, r in agreed)


@needs_shared
@pytest.mark.parametrize("name", CLAIM_BATCHES)
def test_claim_labels_join_their_titles_and_pass_history_matches(name):
    examples = load_examples(SEEDS / "labels" / f"{name}.jsonl", targets=default_targets())
    assert len(examples) == 4 * 2000 and all(ex.article_id.startswith("euvsdisinfo:") and ex.sentence_id == 0 for ex in examples)
    titles = {row["title"] for row in csv.DictReader(CLAIMS.open(encoding="utf-8", newline=""))}
    assert {ex.text for ex in examples} <= titles
    counts = Counter((ex.target, ex.label) for ex in examples)
    assert counts["russia", "favor"] >= 200 and counts["west", "against"] >= 400
    passes, final = passes_and_labels(name)
    assert pointers(passes, ("article_id", "sentence_hash")) == pointers(final, ("article_id", "sentence_hash"))


def test_the_claim_batches_share_no_title():
    keys = [{json.loads(line)["article_id"] for line in (SEEDS / "labels" / f"{name}.jsonl").open()} for name in CLAIM_BATCHES]
    assert all(len(batch) == 2000 for batch in keys) and not keys[0] & keys[1]


@needs_shared
def test_no_sentence_of_the_shared_articles_is_in_the_repository():
    sentences = {" ".join(row["title"].split()) for row in csv.DictReader(CLAIMS.open(encoding="utf-8", newline=""))}
    sentences = {title for title in sentences if len(title) >= 40}
    texts = [*URW_DEV.glob("*.txt"), *SEMEVAL2023_EN.glob("*.txt")]
    articles = [[s.text for s in split_sentences(path.read_text(encoding="utf-8"))] for path in texts]
    for article in [*articles, *numbered_line_articles(SEMEVAL2023_EN_DEV).values()]:
        for sentence in article:
            text = " ".join(sentence.split())
            if len(text) >= 60:
                sentences.add(text)
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    leaks = []
    for name in files:
        path = REPO / name
        if not path.is_file() or path.stat().st_size > 20_000_000:
            continue
        try:
            text = " ".join(path.read_text(encoding="utf-8").split())
        except UnicodeDecodeError:
            continue
        leaks += [(name, s[:60]) for s in sentences if s in text]
    assert not leaks, leaks[:5]
