"""Exact checks that a changed constant or a dropped setting cannot pass: the voice
temperature scales the voice logits, and an article summary keeps exactly three evidence
sentences per target (fewer only when fewer take a stance); a sentence
without a stance is voiced by its author."""

from __future__ import annotations

import math

import numpy as np
import pytest
from stance.models import StanceModel
from stance.models.predictions import EVIDENCE_PER_TARGET, SentencePrediction, TargetStance, Voice, summarize_article
from stance.models.sentences import Sentence
from stance.models.tasks import sentence_voice

SENTENCE = "Serbia will never join NATO."


def logit(p: float) -> float:
    return math.log(p / (1 - p))


def reported_probability(model: StanceModel) -> float:
    """The voice head's P(reported) for one pair (a sentence's voice also weighs its stance: ``sentence_voice``)."""
    return float(model.score_pairs([SENTENCE], [model.targets["nato"].query])["voice"][0, 1])


@pytest.mark.parametrize("temperature", [0.5, 4.0])
def test_the_voice_temperature_divides_the_voice_logits(tiny_model_dir, temperature):
    model = StanceModel.from_pretrained(tiny_model_dir)
    base = reported_probability(model)
    model.head_specs["voice"].temperature = temperature
    assert logit(reported_probability(model)) == pytest.approx(logit(base) / temperature, rel=1e-3, abs=1e-4)


def test_the_stance_temperature_does_not_touch_the_voice(tiny_model_dir):
    model = StanceModel.from_pretrained(tiny_model_dir)
    base = reported_probability(model)
    model.head_specs["stance"].temperature = 7.0
    assert reported_probability(model) == pytest.approx(base, abs=1e-6)


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


def test_a_sentence_without_a_stance_is_the_authors():
    """Guide: "A sentence with no stance toward any target has voice author", whatever the voice head reads."""
    neutral = np.array([[0.05, 0.05, 0.8, 0.1], [0.0, 0.05, 0.05, 0.9]])
    reported = np.array([[0.1, 0.9], [0.1, 0.9]])
    assert sentence_voice(reported, neutral)[0] == "author"
    stanced = np.array([[0.05, 0.9, 0.05, 0.0], [0.0, 0.05, 0.05, 0.9]])
    label, score = sentence_voice(reported, stanced)
    assert label == "reported" and score == pytest.approx((1 - 0.05 * 0.95) * 0.9)
    assert sentence_voice(np.zeros((0, 2)), np.zeros((0, 4))) == ("author", 1.0)
