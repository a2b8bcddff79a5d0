"""Labelled rows in, validated examples out.

Three row shapes are read from JSON Lines or CSV, all following ANNOTATION.md:

* long: one sentence and one target per row (``text``, ``target``, ``label``, ``voice``);
* wide: one sentence per row with one column per target (``russia``, ``west``, ...);
* pointer: a long or wide row without ``text`` but with ``article_id``, ``sentence_id``
  and ``sentence_hash``; the text is joined at load time from ``<article_id>.txt`` in a
  text folder, split with the project's own splitter, so that text under another
  licence never enters the repository (an ``article_id`` ``<source>:<key>`` names an entry
  of a table instead: ``TEXT_TABLES``, the EUvsDisinfo claim titles and the SemEval-2023
  dev articles, which the organisers ship as one file of numbered lines).

Exports of Label Studio (a ``.json`` list of tasks) and doccano (JSON Lines rows whose
``label`` is a list) made from ``stance label`` tasks are read by ``label_tools``.

Every problem is reported with its file and line (or task id), and nothing is returned unless every
row is valid.
"""

from __future__ import annotations

import csv
import json
import os
import random
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from stance.models import STANCE_LABELS, VOICE_LABELS, TargetSet, context_windows, sentence_hash, split_sentences
from stance.models.sentences import has_word
from stance.training.label_tools import (
    ExportSummary,
    LabelledTask,
    doccano_row_labels,
    is_doccano_row,
    is_label_studio_export,
    log_summary,
    read_label_studio_export,
)

MAX_ERRORS_SHOWN = 20
REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_URW_DEV = Path("datasets") / "semeval2025-urw" / "dev"
SHARED_SEMEVAL2023_EN = Path("datasets") / "semeval2023-task3" / "en" / "train-articles-subtask-2"
SHARED_CLAIMS = Path("datasets") / "euvsdisinfo-claims"
SHARED_SEMEVAL2023_EN_DEV = Path("datasets") / "semeval2023-task3" / "en"  # the dev articles' template (TEXT_TABLES)
SHARED_TEXT_DIRS = (SHARED_URW_DEV, SHARED_SEMEVAL2023_EN, SHARED_CLAIMS, SHARED_SEMEVAL2023_EN_DEV)
ARTICLE_NAMES = ("{id}", "{id}.txt", "article{id}.txt")  # an article's text file, as the organisers name it


class DataError(ValueError):
    """One or more rows are invalid; the message lists them as ``file:line: problem``."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        shown = "\n  ".join(self.problems[:MAX_ERRORS_SHOWN])
        more = len(self.problems) - MAX_ERRORS_SHOWN
        tail = f"\n  ... and {more} more" if more > 0 else ""
        super().__init__(f"{len(self.problems)} invalid row(s), nothing was loaded:\n  {shown}{tail}")


@dataclass(frozen=True)
class StanceExample:
    text: str
    target: str
    label: str
    voice: str | None = None
    article_id: str | None = None
    sentence_id: int | None = None
    query: str | None = None  # text read beside the sentence instead of the target's query
    origin: str = ""  # file:line, for messages

    @property
    def group(self) -> str:
        """What a split must keep together: the article, else the sentence."""
        return self.article_id or self.text

    def query_in(self, targets: TargetSet) -> str:
        """What the model reads beside the sentence: the row's own query, else its target's."""
        return self.query or targets[self.target].query


def article_contexts(examples: Sequence[StanceExample], *, before: int, after: int) -> list[str | None]:
    """Per example, its sentence with up to ``before`` / ``after`` neighbours of its article,
    i.e. what ``StanceModel.analyze`` gates on; ``None`` for an example without an article
    position. Neighbours are read from ``examples``, so an article whose every sentence is
    labelled (as in seeds/) gates exactly as ``analyze``; unlabelled sentences read as empty."""
    articles: dict[str, dict[int, str]] = {}
    for ex in examples:
        if ex.article_id is not None and ex.sentence_id is not None:
            articles.setdefault(ex.article_id, {})[ex.sentence_id] = ex.text
    windows: dict[tuple[str, int], str] = {}
    for article_id, sentences in articles.items():
        positions = range(max(sentences) + 1)
        texts = context_windows([sentences.get(i, "") for i in positions], before=before, after=after)
        windows.update(((article_id, i), texts[i]) for i in sentences)
    return [windows.get((ex.article_id, ex.sentence_id)) if ex.article_id is not None else None for ex in examples]


def gate_skips(examples: Sequence[StanceExample], *, targets: TargetSet, window: Sequence[int]) -> list[bool]:
    """Which examples the alias gate of ``analyze`` leaves to the prior: those whose target has
    no alias in their article window. Examples with their own query or without an article
    position are always scored, as ``predict`` scores a lone sentence."""
    before, after = window
    contexts = article_contexts(examples, before=before, after=after)
    return [
        context is not None and not ex.query and not targets[ex.target].mentioned_in(context)
        for ex, context in zip(examples, contexts, strict=True)
    ]


def sample_gate_skipped(
    examples: Sequence[StanceExample], *, targets: TargetSet, window: Sequence[int], fraction: float, seed: int
) -> list[StanceExample]:
    """Every pair the gate scores, and a random ``fraction`` of those it skips.

    Skipped pairs never reach the model in ``analyze``, so training on all of them spends most of
    an epoch on easy ``none`` pairs (72% of the SemEval-2023 article pairs); a sample keeps lone
    sentences without an alias (``predict``) in the training distribution."""
    rng = random.Random(seed)
    skips = gate_skips(examples, targets=targets, window=window)
    return [ex for ex, skip in zip(examples, skips, strict=True) if not skip or rng.random() < fraction]


def shared_dir() -> Path:
    """``$STANCE_SHARED``, else ``../shared`` beside the repository."""
    return Path(os.environ.get("STANCE_SHARED", REPO_ROOT.parent / "shared"))


def default_text_dirs() -> list[Path]:
    return [REPO_ROOT / "seeds", *(shared_dir() / folder for folder in SHARED_TEXT_DIRS)]


def read_records(path: str | os.PathLike, problems: list[str] | None = None) -> Iterator[tuple[int, dict]]:
    """(line number, row) pairs from a ``.jsonl`` or ``.csv`` file (UTF-8, a byte-order mark allowed).

    A line that is not a JSON object, or not UTF-8, raises DataError, or, when ``problems``
    is given, is recorded there so that the caller can report every bad line at once.
    """
    path = Path(path)
    if path.is_dir():
        raise FileNotFoundError(f"{path} is a folder: give a .jsonl or .csv file of rows")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")

    def report(line_no: int, problem: str) -> None:
        if problems is None:
            raise DataError([f"{path}:{line_no}: {problem}"])
        problems.append(f"{path}:{line_no}: {problem}")

    if path.suffix.lower() == ".csv":
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            try:
                for row in reader:
                    yield reader.line_num, {k: v for k, v in row.items() if k is not None and v not in (None, "")}
            except UnicodeDecodeError as error:
                report(reader.line_num + 1, f"not UTF-8 text ({error.reason}); the rest of the file was not read")
        return
    with path.open("rb") as handle:
        for line_no, raw in enumerate(handle, 1):
            try:
                line = raw.decode("utf-8-sig" if line_no == 1 else "utf-8")
            except UnicodeDecodeError as error:
                report(line_no, f"not UTF-8 text (byte {raw[error.start]:#04x} at column {error.start + 1})")
                continue
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                problem = None if isinstance(row, dict) else f"expected a JSON object, got {type(row).__name__}"
            except json.JSONDecodeError as error:
                problem = f"bad JSON ({error.msg})"
            if problem is None:
                yield line_no, row
            else:
                report(line_no, problem)


def load_examples(
    paths: str | os.PathLike | Iterable[str | os.PathLike],
    *,
    targets: TargetSet,
    text_dirs: Sequence[str | os.PathLike] | None = None,
) -> list[StanceExample]:
    """Read and validate labelled rows from one or more files."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    dirs = [Path(d) for d in (text_dirs if text_dirs is not None else default_text_dirs())]
    examples: list[StanceExample] = []
    problems: list[str] = []
    for path in paths:
        if is_label_studio_export(path):
            tasks, summary = read_label_studio_export(path, targets=targets, problems=problems)
            examples.extend(example for task in tasks for example in _task_examples(task, f"{path}: task {task.task_id}"))
            log_summary(summary)
            continue
        summary = ExportSummary(str(path))
        for line_no, row in read_records(path, problems):
            origin = f"{path}:{line_no}"
            try:
                if is_doccano_row(row):
                    task = doccano_row_labels(row, targets=targets, summary=summary)
                    examples.extend(_task_examples(task, origin) if task else [])
                else:
                    examples.extend(_row_examples(row, origin, targets, dirs))
            except ValueError as error:
                problems.append(f"{origin}: {error}")
        if summary.labelled or summary.unannotated:
            log_summary(summary)
    if problems:
        raise DataError(problems)
    if not examples:
        raise DataError([f"{', '.join(map(str, paths))}: no rows"])
    return examples


def _task_examples(task: LabelledTask, origin: str) -> list[StanceExample]:
    """One example per target of a task labelled in Label Studio or doccano."""
    return [
        StanceExample(
            text=task.text, target=name, label=label, voice=task.voice, article_id=task.article_id, sentence_id=task.sentence_index, origin=origin
        )
        for name, label in task.stance.items()
    ]


def _row_examples(row: dict, origin: str, targets: TargetSet, text_dirs: list[Path]) -> list[StanceExample]:
    text = row_text(row, text_dirs)
    voice = row.get("voice")
    if voice is not None and voice not in VOICE_LABELS:
        raise ValueError(f"unknown voice {voice!r} (expected one of {', '.join(VOICE_LABELS)})")
    common = {
        "text": text,
        "voice": voice,
        "article_id": str(row["article_id"]) if row.get("article_id") is not None else None,
        "sentence_id": int(row["sentence_id"]) if row.get("sentence_id") is not None else None,
        "origin": origin,
    }
    if "target" in row or "label" in row:
        target, label = _required(row, "target"), _required(row, "label")
        if not isinstance(target, str):
            raise ValueError(f"target must be a string, got {target!r}")
        _check_label(label, target)
        if target not in targets and not row.get("query"):
            raise ValueError(f"unknown target {target!r} (known: {', '.join(targets)})")
        return [StanceExample(target=target, label=label, query=row.get("query"), **common)]
    wide = [name for name in targets if name in row]
    if not wide:
        raise ValueError(f"missing column: a row needs 'target' and 'label', or one column per target ({', '.join(targets)})")
    unknown = [key for key in row if key not in _WIDE_KEYS and key not in targets]
    if unknown:
        raise ValueError(f"unknown target column(s) {', '.join(map(repr, unknown))} (known: {', '.join(targets)})")
    for name in wide:
        _check_label(row[name], name)
    return [StanceExample(target=name, label=row[name], **common) for name in wide]


_WIDE_KEYS = {"text", "voice", "article_id", "sentence_id", "sentence_hash", "id", "genre", "source", "notes"}


def _required(row: dict, key: str) -> str:
    value = row.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ValueError(f"missing column {key!r}")
    return value


def _check_label(label: object, target: str) -> None:
    if label not in STANCE_LABELS:
        raise ValueError(f"unknown label {label!r} for target {target!r} (expected one of {', '.join(STANCE_LABELS)})")


def row_text(row: dict, text_dirs: list[Path]) -> str:
    """A row's sentence: its ``text``, or the sentence its pointer names, checked against its hash."""
    if "text" in row:
        text = row["text"]
        if not isinstance(text, str) or not has_word(text):
            raise ValueError("empty text (no letter or digit)")
        return text
    if "sentence_hash" not in row:
        raise ValueError("missing column 'text' (or 'article_id', 'sentence_id' and 'sentence_hash' pointing at a source text)")
    article_id, sentence_id = _required(row, "article_id"), int(_required(row, "sentence_id"))
    if sentence_id < 0:
        raise ValueError(f"sentence_id must not be negative, got {sentence_id}")
    sentences = article_sentences(str(article_id), tuple(text_dirs))
    if sentence_id >= len(sentences):
        raise ValueError(f"article {article_id} has {len(sentences)} sentences, no sentence {sentence_id}: re-map the labels to the current splitter")
    sentence = sentences[sentence_id]
    if sentence_hash(sentence) != row["sentence_hash"]:
        raise ValueError(
            f"sentence {sentence_id} of {article_id} does not match its label's hash {row['sentence_hash']} "
            f"(the text or the splitter changed): re-map the labels, never drop them"
        )
    return sentence


class SourceTextMissing(ValueError):
    pass


def article_text_file(article_id: str, dirs: Iterable[Path]) -> Path | None:
    """The first file in ``dirs`` that holds the article's text (``ARTICLE_NAMES``), else None."""
    for directory in dirs:
        for pattern in ARTICLE_NAMES:
            path = directory / pattern.format(id=article_id)
            if path.is_file():
                return path
    return None


@lru_cache(maxsize=4096)
def article_sentences(article_id: str, text_dirs: tuple[Path, ...]) -> list[str]:
    source, _, key = article_id.partition(":")
    if source in TEXT_TABLES and key:
        name, read_table = TEXT_TABLES[source]
        table = next((d / name for d in text_dirs if (d / name).is_file()), None)
        sentences = read_table(table).get(key) if table is not None else None
        if sentences is not None:
            return sentences
    else:
        path = article_text_file(article_id, text_dirs)
        if path is not None:
            return [s.text for s in split_sentences(path.read_text(encoding="utf-8"))]
    raise SourceTextMissing(
        f"no text for article {article_id} in {', '.join(map(str, text_dirs))}: these labels point at the "
        f"SemEval-2025 Task 10 or SemEval-2023 Task 3 articles or the EUvsDisinfo claims; place the project's shared/ "
        f"folder beside the repository (or set STANCE_SHARED) so that {', '.join(map(str, SHARED_TEXT_DIRS))} are found"
    )


@lru_cache(maxsize=4)
def claim_titles(table: Path) -> dict[str, list[str]]:
    """A claim table's titles by the last part of their ``id`` URL; a title is one sentence, never split."""
    with table.open(encoding="utf-8", newline="") as handle:
        return {row["id"].rstrip("/").rsplit("/", 1)[-1]: [row["title"]] for row in csv.DictReader(handle)}


@lru_cache(maxsize=4)
def numbered_line_articles(table: Path) -> dict[str, list[str]]:
    """The sentences of each article of a SemEval-2023 Task 3 template (``article id, line number,
    line`` per row, tab-separated): the article's text is rebuilt with every line at its number
    (the missing numbers are its blank lines) and split as an article file is."""
    lines: dict[str, dict[int, str]] = {}
    with table.open(encoding="utf-8") as handle:
        for row in filter(str.strip, handle):
            article_id, number, *text = row.rstrip("\n").split("\t", 2)
            lines.setdefault(article_id, {})[int(number)] = text[0] if text else ""
    return {
        article_id: [s.text for s in split_sentences("\n".join(numbered.get(i, "") for i in range(1, max(numbered) + 1)))]
        for article_id, numbered in lines.items()
    }


# Sources of texts kept in one table: a pointer row's article_id "<source>:<key>" names the entry <key> of
# the table file found in a text folder. EUvsDisinfo: the title of the claim whose report URL ends in <key>.
TEXT_TABLES = {
    "euvsdisinfo": ("posts.csv", claim_titles),
    "semeval2023-dev": ("dev-labels-subtask-3.template", numbered_line_articles),
}


def split_by_article(
    examples: Sequence[StanceExample], *, dev_fraction: float = 0.2, seed: int = 42
) -> tuple[list[StanceExample], list[StanceExample]]:
    """Train and dev sets that never cut an article (or a sentence without one)."""
    from sklearn.model_selection import GroupShuffleSplit

    if not 0 < dev_fraction < 1:
        raise ValueError("dev_fraction must be between 0 and 1")
    groups = [example.group for example in examples]
    if len(set(groups)) < 2:
        raise ValueError("a train/dev split needs at least two articles")
    splitter = GroupShuffleSplit(n_splits=1, test_size=dev_fraction, random_state=seed)
    train_idx, dev_idx = next(splitter.split(examples, groups=groups))
    return [examples[i] for i in train_idx], [examples[i] for i in dev_idx]
