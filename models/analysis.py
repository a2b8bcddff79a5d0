"""An article through every task asked for: stance per sentence and target with its summary
(``StanceModel``), and the frames and narratives of the whole article with their evidence
sentences (``ArticleReader``). ``stance analyze`` and ``/v1/analyze`` both come through here,
and ``article_labels_json`` is the one JSON shape of an article task's answer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from stance.models.labelsets import ARTICLE_TASKS
from stance.models.predictions import ArticleAnalysis
from stance.models.sentences import Sentence, split_sentences
from stance.models.tasks import STANCE_TASK

ANALYSIS_TASKS = (STANCE_TASK, *ARTICLE_TASKS)


@dataclass(frozen=True)
class FullAnalysis:
    sentences: list[Sentence]
    stance: ArticleAnalysis | None  # None when stance was not asked for
    labels: dict  # task -> ArticleLabels, for the article tasks asked for

    def labels_json(self) -> dict[str, dict]:
        return {task: article_labels_json(result, self.sentences) for task, result in self.labels.items()}


def check_tasks(tasks: Sequence[str] | None, available: Sequence[str]) -> list[str]:
    """The tasks to run, in ``ANALYSIS_TASKS`` order (default: every available one); a task that
    is not one, or has no model loaded, is a ValueError that names what is available."""
    if tasks is None:
        return [task for task in ANALYSIS_TASKS if task in available]
    unknown = [task for task in tasks if task not in ANALYSIS_TASKS]
    if unknown:
        raise ValueError(f"unknown task(s) {', '.join(map(repr, unknown))}: choose from {', '.join(ANALYSIS_TASKS)}")
    missing = [task for task in tasks if task not in available]
    if missing:
        raise ValueError(f"no model loaded for {', '.join(missing)}: available tasks are {', '.join(available) or 'none'}")
    if not tasks:
        raise ValueError("ask for at least one task")
    return [task for task in ANALYSIS_TASKS if task in tasks]


def analyze_articles(
    texts: Sequence[str],
    *,
    stance_model=None,
    reader=None,
    tasks: Sequence[str],
    targets: Sequence[str] | None = None,
    gate: bool | None = None,
    batch_size: int | None = None,
) -> list[FullAnalysis]:
    """Each article through ``tasks`` (checked by ``check_tasks``): the stance model and the
    article reader each read every article of the batch once."""
    sizes = {} if batch_size is None else {"batch_size": batch_size}
    stance = stance_model.analyze_many(texts, targets=targets, gate=gate, **sizes) if STANCE_TASK in tasks else [None] * len(texts)
    article_tasks = [task for task in tasks if task in ARTICLE_TASKS]
    labels = reader.analyze_many(texts, tasks=article_tasks, **sizes) if article_tasks else [{} for _ in texts]
    return [
        FullAnalysis(sentences=split_sentences(text) if analysis is None else list(analysis.sentences), stance=analysis, labels=found)
        for text, analysis, found in zip(texts, stance, labels, strict=True)
    ]


def article_labels_json(result, sentences: Sequence[Sentence]) -> dict:
    """``{"labels": [...], "scores": {label: p}, "evidence": {label: [{"index", "start", "end", "text"}]}}``:
    a probability for every label of the set, and for each label given its evidence sentences."""
    return {
        "labels": list(result.labels),
        "scores": dict(result.scores),
        "evidence": {
            label: [{"index": sentences[i].index, "start": sentences[i].start, "end": sentences[i].end, "text": sentences[i].text} for i in indices]
            for label, indices in result.evidence.items()
        },
    }
