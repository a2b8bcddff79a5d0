"""Which sentences to label next: score articles with a model and pick the ones it is least
sure of (spread over articles), a random sample, or all.

Uncertainty is the margin between a pair's two most probable stance labels, and a sentence
counts as unsure as its most unsure target (the smallest margin over the targets). The margin
is how far the model's label is from flipping, which is what a correction can change; entropy
over four labels also rises when the two labels nobody would choose share what is left, and a
mean over targets would bury the one target in doubt under the three a sentence plainly does
not concern.
"""

from __future__ import annotations

import json
import math
import os
import random
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

from stance.models import StanceModel, TargetStance
from stance.models.runtimes import ARTICLES_PER_PASS
from stance.training.data import DataError, read_records
from stance.training.label_tools import TaskSentence, is_label_studio_export

SELECTIONS = ("uncertain", "random", "all")


def margin(stance: TargetStance) -> float:
    """P(most probable label) - P(second most probable label)."""
    top, second = sorted(stance.scores.values(), reverse=True)[:2]
    return top - second


def score_articles(
    model: StanceModel,
    articles: Sequence[tuple[str, str]],
    *,
    context: int = 2,
    exclude: Iterable[tuple[str, int]] = (),
    batch_size: int = 16,
) -> list[TaskSentence]:
    """Every sentence of the (article id, text) articles, scored as ``analyze`` scores it (alias
    gate included), with ``context`` sentences either side; sentences in ``exclude`` are dropped."""
    skip = set(exclude)
    sentences: list[TaskSentence] = []
    for begin in range(0, len(articles), ARTICLES_PER_PASS):
        chunk = articles[begin : begin + ARTICLES_PER_PASS]
        analyses = model.analyze_many([text for _, text in chunk], batch_size=batch_size)
        for (article_id, _), analysis in zip(chunk, analyses, strict=True):
            texts = [s.text for s in analysis.sentences]
            for s in analysis.sentences:
                if (article_id, s.index) in skip:
                    continue
                sentences.append(
                    TaskSentence(
                        article_id=article_id,
                        sentence_index=s.index,
                        text=s.text,
                        before=" ".join(texts[max(0, s.index - context) : s.index]),
                        after=" ".join(texts[s.index + 1 : s.index + 1 + context]),
                        stance=s.stance,
                        voice=s.voice,
                        uncertainty=min(margin(stance) for stance in s.stance.values()),
                    )
                )
    return sentences


def select_sentences(sentences: Sequence[TaskSentence], *, how: str, n: int, seed: int = 42) -> list[TaskSentence]:
    """``n`` sentences to label (``all``: every one, in article order).

    ``uncertain`` takes the least sure sentences first but at most an even share of ``n``
    from any one article (``ceil(n / articles)``), so that one confusing article cannot fill
    a round with sentences that teach the same thing; only when the shares leave the round
    short do the next least sure sentences fill it, wherever they are."""
    if how not in SELECTIONS:
        raise ValueError(f"unknown selection {how!r}; choose one of {', '.join(SELECTIONS)}")
    if n < 1:
        raise ValueError(f"--n must be at least 1, got {n}")
    if how == "all":
        return list(sentences)
    if how == "random":
        return random.Random(seed).sample(list(sentences), min(n, len(sentences)))
    ranked = sorted(sentences, key=lambda s: (s.uncertainty, s.article_id, s.sentence_index))
    share = math.ceil(n / max(1, len({s.article_id for s in sentences})))
    taken: Counter[str] = Counter()
    chosen, rest = [], []
    for sentence in ranked:
        if len(chosen) < n and taken[sentence.article_id] < share:
            chosen.append(sentence)
            taken[sentence.article_id] += 1
        else:
            rest.append(sentence)
    return chosen + rest[: n - len(chosen)]


def read_articles(path: str | os.PathLike) -> list[tuple[str, str]]:
    """(article id, text) from rows with ``text`` and ``id`` (or ``article_id``; else the line number)."""
    articles, problems, seen = [], [], set()
    for line_no, row in read_records(path, problems):
        text = row.get("text")
        article_id = str(row.get("id", row.get("article_id", f"line-{line_no}")))
        if not isinstance(text, str) or not text.strip():
            problems.append(f"{path}:{line_no}: missing or empty 'text'")
        elif article_id in seen:
            problems.append(f"{path}:{line_no}: article id {article_id!r} appears twice (tasks point at articles by id)")
        else:
            seen.add(article_id)
            articles.append((article_id, text))
    if problems:
        raise DataError(problems)
    return articles


def labelled_positions(path: str | os.PathLike) -> set[tuple[str, int]]:
    """(article id, sentence index) of every task in a task file or export of either tool."""
    if is_label_studio_export(path):
        records = [task.get("data", {}) for task in json.loads(Path(path).read_text(encoding="utf-8")) if isinstance(task, dict)]
    else:
        records = [{**(row.get("meta") or {}), **row} for _, row in read_records(path)]
    return {
        (str(record["article_id"]), int(record["sentence_index"]))
        for record in records
        if record.get("article_id") is not None and isinstance(record.get("sentence_index"), int)
    }
