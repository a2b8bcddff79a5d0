"""Stance targets as data: a name, a description, the query text the encoder reads
beside each sentence, aliases that say when a sentence can refer to the target, and
non-references: names that contain an alias but never mean the target ("the West Coast",
"Brussels sprouts", "a Russian doll"), so the alias gate does not count them."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

DEFAULT_TARGETS_FILE = Path(__file__).with_name("targets.json")


@dataclass(frozen=True)
class Target:
    name: str
    description: str
    query: str
    aliases: tuple[str, ...] = ()
    non_references: tuple[str, ...] = ()
    _pattern: re.Pattern[str] | None = field(default=None, repr=False, compare=False)
    _non_reference_pattern: re.Pattern[str] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[a-z][a-z0-9_-]*", self.name):
            raise ValueError(f"target name {self.name!r} must be lower-case letters, digits, '-' or '_'")
        if not self.query.strip():
            raise ValueError(f"target {self.name!r} has an empty query")
        object.__setattr__(self, "aliases", tuple(self.aliases))
        object.__setattr__(self, "non_references", tuple(self.non_references))
        object.__setattr__(self, "_pattern", _alias_pattern(self.aliases))
        object.__setattr__(self, "_non_reference_pattern", _alias_pattern(self.non_references))

    def mentioned_in(self, text: str) -> bool:
        """Whether ``text`` may refer to the target: an alias outside every non-reference; with no aliases, always."""
        if self._pattern is None:
            return True
        if self._non_reference_pattern is not None:
            text = self._non_reference_pattern.sub(" ", text)
        return self._pattern.search(text) is not None

    def named_only_as_other_things(self, text: str) -> bool:
        """Whether every alias in ``text`` lies inside a non-reference: such a sentence does not concern
        the target, even where every pair is scored (``predict``), and the model is prone to read a stance into it."""
        if self._pattern is None or self._non_reference_pattern is None:
            return False
        without = self._non_reference_pattern.sub(" ", text)
        return without != text and self._pattern.search(without) is None

    def to_dict(self) -> dict:
        data = asdict(self)
        data.pop("_pattern")
        data.pop("_non_reference_pattern")
        data["aliases"] = list(self.aliases)
        data["non_references"] = list(self.non_references)
        return data


def _alias_pattern(aliases: Iterable[str]) -> re.Pattern[str] | None:
    """Whole-word, case-insensitive alternatives; a trailing ``*`` allows any word ending."""
    parts = []
    for alias in aliases:
        alias = alias.strip().lower()
        if not alias:
            continue
        if alias.endswith("*"):
            parts.append(re.escape(alias[:-1]) + r"[\w'’.-]*")
        else:
            parts.append(re.escape(alias) + r"(?!\w)")
    if not parts:
        return None
    return re.compile(r"(?<!\w)(?:" + "|".join(sorted(parts, key=len, reverse=True)) + ")", re.IGNORECASE)


class TargetSet(Mapping[str, Target]):
    """The ordered targets a model scores; the order fixes nothing in the weights."""

    def __init__(self, targets: Iterable[Target]) -> None:
        self._targets: dict[str, Target] = {}
        for target in targets:
            if target.name in self._targets:
                raise ValueError(f"target {target.name!r} is defined twice")
            self._targets[target.name] = target
        if not self._targets:
            raise ValueError("a target set needs at least one target")

    def __getitem__(self, name: str) -> Target:
        try:
            return self._targets[name]
        except KeyError:
            raise KeyError(f"unknown target {name!r}; known: {', '.join(self._targets)}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._targets)

    def __len__(self) -> int:
        return len(self._targets)

    def select(self, names: Iterable[str] | None) -> list[Target]:
        """The named targets (all when ``names`` is None), rejecting unknown names."""
        if names is None:
            return list(self._targets.values())
        names = [names] if isinstance(names, str) else list(names)
        unknown = [name for name in names if name not in self._targets]
        if unknown:
            raise KeyError(f"unknown target(s) {', '.join(unknown)}; known: {', '.join(self._targets)}")
        if not names:
            raise ValueError("at least one target must be named")
        return [self._targets[name] for name in dict.fromkeys(names)]

    def to_dict(self) -> dict:
        return {"targets": [target.to_dict() for target in self._targets.values()]}

    @classmethod
    def from_dict(cls, data: Mapping) -> TargetSet:
        try:
            entries = data["targets"]
            return cls(
                Target(
                    name=entry["name"],
                    description=entry.get("description", ""),
                    query=entry.get("query") or entry["name"],
                    aliases=tuple(entry.get("aliases", ())),
                    non_references=tuple(entry.get("non_references", ())),
                )
                for entry in entries
            )
        except (KeyError, TypeError) as error:
            raise ValueError(f"malformed targets definition: missing {error}") from error

    @classmethod
    def load(cls, path: str | Path = DEFAULT_TARGETS_FILE) -> TargetSet:
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}: not valid JSON ({error})") from error
        try:
            return cls.from_dict(data)
        except ValueError as error:
            raise ValueError(f"{path}: {error}") from error

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def default_targets() -> TargetSet:
    return TargetSet.load(DEFAULT_TARGETS_FILE)
