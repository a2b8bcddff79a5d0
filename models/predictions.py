"""What the classifier returns, as plain dataclasses, and the one JSON shape of a prediction
(``prediction_json``) that the API, ``stance predict`` and its Ray engine all write."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

from stance.models.sentences import Sentence

EVIDENCE_PER_TARGET = 3


@dataclass(frozen=True)
class TargetStance:
    label: str
    scores: dict[str, float]
    scored: bool = True  # False when the alias gate skipped the model for this pair

    @property
    def signed_score(self) -> float:
        return self.scores["favor"] - self.scores["against"]


@dataclass(frozen=True)
class Voice:
    label: str
    score: float


def prediction_json(stance: dict[str, TargetStance], voice: Voice, *, windows: int = 1, gate_flags: bool = True) -> dict:
    """``{"stance": {target: {"label", "scores", "scored"}}, "voice": {"label", "score"}}``, and
    ``"windows": n`` when the sentence was longer than the model reads at once and was read in n
    overlapping windows (its scores are those of the window that takes a stance most surely).

    ``gate_flags=False`` leaves out ``scored``: the rows of ``stance predict`` have never carried it.
    """
    return {
        "stance": {
            name: {"label": result.label, "scores": dict(result.scores), **({"scored": result.scored} if gate_flags else {})}
            for name, result in stance.items()
        },
        "voice": {"label": voice.label, "score": voice.score},
        **({"windows": windows} if windows > 1 else {}),
    }


@dataclass(frozen=True)
class SentencePrediction:
    text: str
    stance: dict[str, TargetStance]
    voice: Voice
    windows: int = 1  # windows of max_length tokens read: more than 1 for a sentence too long to read at once

    def to_dict(self) -> dict:
        return {"text": self.text, **prediction_json(self.stance, self.voice, windows=self.windows)}


@dataclass(frozen=True)
class AnalyzedSentence:
    index: int
    start: int
    end: int
    text: str
    stance: dict[str, TargetStance]
    voice: Voice
    windows: int = 1

    def to_dict(self) -> dict:
        return {
            "index": self.index,
            "start": self.start,
            "end": self.end,
            "text": self.text,
            **prediction_json(self.stance, self.voice, windows=self.windows),
        }


@dataclass(frozen=True)
class Evidence:
    index: int
    label: str
    score: float
    text: str


@dataclass(frozen=True)
class TargetSummary:
    """One article's stance toward one target.

    ``score`` is the mean of P(favor) - P(against) over the sentences that concern the
    target (predicted label other than ``none``), 0.0 when none does.
    """

    counts: dict[str, int]
    mentions: int
    score: float
    evidence: list[Evidence] = field(default_factory=list)


@dataclass(frozen=True)
class ArticleAnalysis:
    sentences: list[AnalyzedSentence]
    summary: dict[str, TargetSummary]

    def to_dict(self) -> dict:
        return {
            "sentences": [sentence.to_dict() for sentence in self.sentences],
            "summary": {name: asdict(s) for name, s in self.summary.items()},
        }


def summarize_article(sentences: Sequence[Sentence], predictions: Sequence[SentencePrediction], targets: Sequence[str]) -> ArticleAnalysis:
    analyzed = [
        AnalyzedSentence(s.index, s.start, s.end, s.text, p.stance, p.voice, p.windows) for s, p in zip(sentences, predictions, strict=True)
    ]
    summary = {}
    for target in targets:
        results = [(s, s.stance[target]) for s in analyzed]
        counts = {label: 0 for label in ("favor", "against", "neutral", "none")}
        for _, result in results:
            counts[result.label] += 1
        concerned = [result for _, result in results if result.label != "none"]
        score = sum(r.signed_score for r in concerned) / len(concerned) if concerned else 0.0
        stanced = sorted(
            ((s, r) for s, r in results if r.label in ("favor", "against")),
            key=lambda item: item[1].scores[item[1].label],
            reverse=True,
        )
        evidence = [Evidence(s.index, r.label, r.scores[r.label], s.text) for s, r in stanced[:EVIDENCE_PER_TARGET]]
        summary[target] = TargetSummary(counts=counts, mentions=len(concerned), score=score, evidence=evidence)
    return ArticleAnalysis(sentences=analyzed, summary=summary)
