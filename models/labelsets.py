"""Article-level label sets as data, beside ``targets.json``: the 14 generic frames of SemEval-2023
Task 3 (``frames.json``) and the coarse Ukraine-war narratives of SemEval-2025 Task 10
(``narratives.json``), named exactly as the organisers write them. A user's own scheme is
one more file of the same shape.

``fallback`` names the label an article gets when no label passes its threshold (the
organisers' ``Other`` for narratives); it is not a head output. ``ignore_prefixes`` are
labels of another domain in the organisers' files (the climate-change narratives), dropped
when such a file is read. ``separator`` splits the labels of one article in the organisers'
label files (narratives hold commas, so theirs is ``;``)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

LABELSETS_DIR = Path(__file__).parent
ARTICLE_TASKS = ("frames", "narratives")


@dataclass(frozen=True)
class LabelSet:
    task: str
    labels: tuple[str, ...]
    descriptions: dict[str, str] = field(default_factory=dict, compare=False)
    fallback: str | None = None
    ignore_prefixes: tuple[str, ...] = ()
    separator: str = ","

    def __post_init__(self) -> None:
        if not self.labels or len(set(self.labels)) != len(self.labels):
            raise ValueError(f"label set {self.task!r} needs distinct labels")
        if self.fallback in self.labels:
            raise ValueError(f"label set {self.task!r}: the fallback {self.fallback!r} must not be one of its labels")

    @property
    def output_labels(self) -> tuple[str, ...]:
        """Every label an article can get: the labels, then the fallback."""
        return self.labels + ((self.fallback,) if self.fallback else ())

    def read_labels(self, names: Iterable[str]) -> tuple[list[str], list[str]]:
        """Gold labels as given in a file: (known labels in set order, unknown names). The fallback
        alone means no label; labels with an ignored prefix are dropped; repeats count once."""
        given = {name.strip() for name in names if name.strip()}
        given = {name for name in given if not name.startswith(self.ignore_prefixes)}
        unknown = sorted(given - set(self.labels) - {self.fallback})
        return [label for label in self.labels if label in given], unknown

    def to_dict(self) -> dict:
        return {
            "task": self.task,
            "fallback": self.fallback,
            "ignore_prefixes": list(self.ignore_prefixes),
            "separator": self.separator,
            "labels": [{"name": label, "description": self.descriptions.get(label, "")} for label in self.labels],
        }

    @classmethod
    def from_dict(cls, data: dict) -> LabelSet:
        try:
            entries = data["labels"]
            return cls(
                task=data["task"],
                labels=tuple(entry["name"] for entry in entries),
                descriptions={entry["name"]: entry.get("description", "") for entry in entries},
                fallback=data.get("fallback"),
                ignore_prefixes=tuple(data.get("ignore_prefixes") or ()),
                separator=data.get("separator") or ",",
            )
        except (KeyError, TypeError) as error:
            raise ValueError(f"malformed label set: missing {error}") from error

    @classmethod
    def load(cls, path: str | Path) -> LabelSet:
        path = Path(path)
        try:
            return cls.from_dict(json.loads(path.read_text(encoding="utf-8")))
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}: not valid JSON ({error})") from error
        except ValueError as error:
            raise ValueError(f"{path}: {error}") from error

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def default_labelset(task: str) -> LabelSet:
    if task not in ARTICLE_TASKS:
        raise ValueError(f"unknown article task {task!r}; choose one of {', '.join(ARTICLE_TASKS)}")
    return LabelSet.load(LABELSETS_DIR / f"{task}.json")


def multi_hot(labels: Sequence[str], labelset: LabelSet) -> list[float]:
    chosen = set(labels)
    return [1.0 if label in chosen else 0.0 for label in labelset.labels]
