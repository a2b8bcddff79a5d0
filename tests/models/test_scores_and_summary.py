"""Exact checks that a changed constant or a dropped setting cannot pass: the voice
temperature scales the voice logits, and an article summary keeps exactly three evidence
sentences per target (fewer only when fewer take a stance)."""

from __future__ import annotations

import math

import pytest
from stance.models import StanceModel
from stance.models.predictions import EVIDENCE_PER_TARGET, SentencePrediction, TargetStance, Voice, summarize_article
from stance.models.sentences import Sentence

SENTENCE = "Serbia will never join NATO."


def logit(p: float) -> float:
    return math.log(p / (1 - p))


@pytest.mark.parametrize("temperature", [0.5, 4.0])
def test_the_voice_temperature_divides_the_voice_logits(tiny_model_dir, temperature):
    model = StanceModel.from_pretrained(tiny_model_dir)
    base = model.predict(SENTENCE, targets=["nato"]).voice  # one pair: the voice is that pair's
    model.head_specs["voice"].temperature = temperature
    scaled = model.predict(SENTENCE, targets=["nato"]).voice
    assert scaled.label == base.label
    assert logit(scaled.score) == pytest.approx(logit(base.score) / temperature, rel=1e-3, abs=1e-4)


def test_the_stance_temperature_does_not_touch_the_voice(tiny_model_dir):
    model = StanceModel.from_pretrained(tiny_model_dir)
    base = model.predict(SENTENCE, targets=["nato"]).voice.score
    model.head_specs["stance"].temperature = 7.0
    assert model.predict(SENTENCE, targets=["nato"]).voice.score == pytest.approx(base, abs=1e-6)


def stanced(label: str, p: float) -> TargetStance:
    rest = (1 - p) / 3
    scores = {name: (p if name == label else rest) for name in ("favor", "against", "neutral", "none")}
    return TargetStance(label=label, scores=scores)


@pytest.mark.parametrize("stanced_sentences", [0, 1, 2, 3, 5])
def test_evidence_is_the_three_strongest_stanced_sentences(stanced_sentences):
    labels = [("against", 0.9), ("favor", 0.6), ("against", 0.8), ("favor", 0.95), ("against", 0.7)][:stanced_sentences]
    labels += [("neutral", 0.99), ("none", 0.99)]
    sentences = [Sentence(i, f"sentence {i}", 10 * i, 10 * i + 10) for i in range(len(labels))]
    voices = [Voice("reported" if i % 2 else "author", 0.5 + i / 100) for i in range(len(labels))]
    predictions = [SentencePrediction(s.text, {"nato": stanced(label, p)}, v) for s, (label, p), v in zip(sentences, labels, voices, strict=True)]
    analysis = summarize_article(sentences, predictions, ["nato"])
    evidence = analysis.summary["nato"].evidence
    assert EVIDENCE_PER_TARGET == 3
    strongest = sorted(((p, i) for i, (label, p) in enumerate(labels) if label in ("favor", "against")), reverse=True)[:3]
    assert [e.index for e in evidence] == [i for _, i in strongest]
    assert [e.score for e in evidence] == pytest.approx([p for p, _ in strongest])
    assert len(evidence) == min(3, stanced_sentences)
    concerned = [(label, p) for label, p in labels if label != "none"]  # the stanced ones and the neutral one
    summary = analysis.summary["nato"]
    assert summary.mentions == len(concerned) == stanced_sentences + 1
    assert summary.counts == {name: sum(label == name for label, _ in labels) for name in ("favor", "against", "neutral", "none")}
    signed = [stanced(label, p).signed_score for label, p in concerned]
    assert summary.score == pytest.approx(sum(signed) / len(signed))
    assert [s.voice for s in analysis.sentences] == voices
    assert [(s.index, s.start, s.end, s.text) for s in analysis.sentences] == [(s.index, s.start, s.end, s.text) for s in sentences]


def test_a_summary_needs_one_prediction_per_sentence():
    sentences = [Sentence(i, f"sentence {i}", 10 * i, 10 * i + 10) for i in range(3)]
    predictions = [SentencePrediction(s.text, {"nato": stanced("none", 0.9)}, Voice("author", 1.0)) for s in sentences[:2]]
    with pytest.raises(ValueError):
        summarize_article(sentences, predictions, ["nato"])
