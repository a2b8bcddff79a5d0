"""Choosing sentences to label: the margin, selection spread over articles, exclusions."""

from __future__ import annotations

import json

import pytest
from jsonl_rows import write_jsonl
from stance.models import StanceModel, TargetStance, Voice, split_sentences
from stance.training.data import DataError
from stance.training.label_tools import TaskSentence
from stance.training.selection import labelled_positions, margin, read_articles, score_articles, select_sentences

ARTICLES = [
    ("a1", "NATO ministers meet in Brussels.\nThe alliance condemned the Kremlin. Moscow denied it.\nThe weather was mild."),
    ("a2", "Brussels praised the bloc's unity on sanctions against Russia. Serbia will never join NATO."),
]


def stance(scores: dict[str, float]) -> TargetStance:
    return TargetStance(label=max(scores, key=scores.get), scores=scores)


def candidate(article: str, index: int, uncertainty: float) -> TaskSentence:
    return TaskSentence(article, index, f"{article}-{index}", "", "", {}, Voice("author", 1.0), uncertainty)


def test_margin_is_the_gap_between_the_two_most_probable_labels():
    assert margin(stance({"favor": 0.1, "against": 0.45, "neutral": 0.4, "none": 0.05})) == pytest.approx(0.05)
    assert margin(stance({"favor": 0.0, "against": 0.0, "neutral": 0.0, "none": 1.0})) == pytest.approx(1.0)


def test_uncertain_takes_the_least_sure_with_an_even_share_per_article():
    pool = [candidate("a", i, u) for i, u in enumerate([0.01, 0.02, 0.03, 0.04])] + [candidate("b", 0, 0.5), candidate("c", 0, 0.2), candidate("c", 1, 0.9)]
    chosen = select_sentences(pool, how="uncertain", n=5)  # a share is 2 of 5 over 3 articles
    assert [(s.article_id, s.sentence_index) for s in chosen] == [("a", 0), ("a", 1), ("c", 0), ("b", 0), ("c", 1)]
    chosen = select_sentences(pool, how="uncertain", n=6)  # shares of 2 leave one to fill: the least sure left
    assert [(s.article_id, s.sentence_index) for s in chosen][-1] == ("a", 2)
    assert len(select_sentences(pool, how="uncertain", n=100)) == len(pool)


def test_random_is_seeded_and_all_keeps_everything():
    pool = [candidate("a", i, 0.5) for i in range(50)]
    first, again, other = (select_sentences(pool, how="random", n=10, seed=s) for s in (1, 1, 2))
    assert first == again and first != other and len({s.sentence_index for s in first}) == 10
    assert select_sentences(pool, how="random", n=500) != pool and len(select_sentences(pool, how="random", n=500)) == 50
    assert select_sentences(pool, how="all", n=1) == pool


def test_bad_selection_arguments():
    with pytest.raises(ValueError, match="unknown selection"):
        select_sentences([], how="hardest", n=1)
    with pytest.raises(ValueError, match="at least 1"):
        select_sentences([], how="random", n=0)


def test_score_articles_gives_every_sentence_its_context_and_smallest_margin(tiny_model_dir):
    model = StanceModel.from_pretrained(tiny_model_dir)
    sentences = score_articles(model, ARTICLES, context=1, exclude={("a1", 0)})
    expected = [(a, s.index) for a, text in ARTICLES for s in split_sentences(text) if (a, s.index) != ("a1", 0)]
    assert [(s.article_id, s.sentence_index) for s in sentences] == expected
    by_position = {(s.article_id, s.sentence_index): s for s in sentences}
    texts = [s.text for s in split_sentences(ARTICLES[0][1])]
    assert by_position["a1", 1].before == texts[0] and by_position["a1", 1].after == texts[2]
    assert by_position["a1", 3].after == ""
    for s in sentences:
        assert s.uncertainty == pytest.approx(min(margin(t) for t in s.stance.values()))
        assert set(s.stance) == set(model.targets)


def test_read_articles_names_bad_rows(tmp_path):
    rows = [{"id": "x", "text": "One."}, {"text": "Two."}, {"id": "x", "text": "Three."}, {"id": "y", "text": " "}]
    source = write_jsonl(tmp_path / "a.jsonl", rows)
    with pytest.raises(DataError) as error:
        read_articles(source)
    assert error.value.problems == [f"{source}:3: article id 'x' appears twice (tasks point at articles by id)", f"{source}:4: missing or empty 'text'"]
    assert read_articles(write_jsonl(tmp_path / "b.jsonl", rows[:2])) == [("x", "One."), ("line-2", "Two.")]


def test_labelled_positions_read_tasks_and_exports_of_both_tools(tmp_path):
    studio = tmp_path / "tasks.json"
    studio.write_text(json.dumps([{"data": {"text": "t", "article_id": "a1", "sentence_index": 2}}, {"data": {"text": "u"}}]), encoding="utf-8")
    doccano = write_jsonl(tmp_path / "doccano.jsonl", [{"text": "t", "article_id": 7, "sentence_index": 0, "label": []}, {"text": "u", "meta": {"article_id": "b", "sentence_index": 1}}])
    assert labelled_positions(studio) == {("a1", 2)}
    assert labelled_positions(doccano) == {("7", 0), ("b", 1)}
