"""Labelled articles for the frames and narratives tasks, read in the organisers' own formats
or as JSON Lines, with the same ``file:line`` validation as stance rows.

* organisers' label files (any suffix but ``.jsonl``): ``article_id<TAB>labels`` with the label
  set's separator (SemEval-2023 Task 3 subtask 2: ``833042063<TAB>Political,Morality``;
  SemEval-2025 Task 10 subtask 2: ``EN_UA_300009.txt<TAB>URW: ...;URW: ...<TAB>subnarratives``,
  the subnarratives ignored); the text is read from the article folders, as ``<id>``,
  ``<id>.txt`` or ``article<id>.txt`` (the organisers' names);
* JSON Lines: ``{"article_id": ..., "text": ... (or none, to read it from the folders), "labels": [...]}``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from stance.models.labelsets import LabelSet
from stance.training.data import DataError, article_text_file, default_text_dirs, read_records


@dataclass(frozen=True)
class ArticleExample:
    article_id: str
    text: str
    labels: tuple[str, ...]  # known labels of the set, in set order; empty: the fallback
    origin: str = ""

    @property
    def group(self) -> str:
        return self.article_id


def load_article_examples(
    paths: str | os.PathLike | Iterable[str | os.PathLike], *, labelset: LabelSet, text_dirs: Sequence[str | os.PathLike] | None = None
) -> list[ArticleExample]:
    """Read and validate labelled articles from one or more files; nothing is returned unless every row is valid."""
    paths = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    dirs = [Path(d) for d in (text_dirs if text_dirs is not None else default_text_dirs())]
    examples: list[ArticleExample] = []
    problems: list[str] = []
    seen: dict[str, str] = {}
    for path in paths:
        for line_no, article_id, text, names in _rows(Path(path), labelset, problems):
            origin = f"{path}:{line_no}"
            try:
                if not article_id:
                    raise ValueError("missing 'article_id'")
                if article_id in seen:
                    raise ValueError(f"article {article_id} is labelled twice (also at {seen[article_id]})")
                labels, unknown = labelset.read_labels(names)
                if unknown:
                    raise ValueError(f"unknown {labelset.task} label(s) {unknown} (known: {', '.join(labelset.output_labels)})")
                text = text if text is not None else _article_text(article_id, dirs)
                if not text.strip():
                    raise ValueError(f"article {article_id} has no text")
            except ValueError as error:
                problems.append(f"{origin}: {error}")
                continue
            seen[article_id] = origin
            examples.append(ArticleExample(article_id=article_id, text=text, labels=tuple(labels), origin=origin))
    if problems:
        raise DataError(problems)
    if not examples:
        raise DataError([f"{', '.join(map(str, paths))}: no rows"])
    return examples


def _rows(path: Path, labelset: LabelSet, problems: list[str]):
    """(line, article id, text or None, label names) per row of a file in either form."""
    if path.suffix.lower() == ".jsonl":
        for line_no, row in read_records(path, problems):
            labels = row.get("labels")
            if not isinstance(labels, list) or not all(isinstance(label, str) for label in labels):
                problems.append(f"{path}:{line_no}: 'labels' must be a list of label names")
                continue
            text = row.get("text")
            if text is not None and not isinstance(text, str):
                problems.append(f"{path}:{line_no}: 'text' must be a string")
                continue
            yield line_no, str(row.get("article_id") or ""), text, labels
        return
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    with path.open(encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, 1):
            if not line.strip():
                continue
            fields = line.rstrip("\n").split("\t")
            if len(fields) < 2:
                problems.append(f"{path}:{line_no}: expected 'article_id<TAB>labels'")
                continue
            yield line_no, fields[0].strip(), None, fields[1].split(labelset.separator)


def _article_text(article_id: str, dirs: Sequence[Path]) -> str:
    path = article_text_file(article_id, dirs)
    if path is not None:
        return path.read_text(encoding="utf-8")
    raise ValueError(f"no text for article {article_id} in {', '.join(map(str, dirs))} (give --text-dir, or a 'text' field)")
