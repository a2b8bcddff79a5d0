"""Behaviour checklist for the shipped models (``default`` where its encoder's packages are
installed, as ``make install`` does, and ``minilm``): clear sentences of the seed article,
implicit references, negation, sentences that concern no target, and the blind cases
(``seeds/behaviour/blind-cases.jsonl``: written and labelled by annotators who never saw the models)."""

from __future__ import annotations

from pathlib import Path

import pytest
from shipped_models import skip_unless_available
from stance.models import StanceModel, split_sentences

from benchmarks.behaviour import read_checklist, score_checklist

SEEDS = Path(__file__).resolve().parents[2] / "seeds"
SEED_ARTICLE = SEEDS / "000_f2f505aecd180d60.txt"
# Shares of the blind cases each shipped model gets right, a few rows below its measured level (default 1.7.0:
# 161/180 stance, 173/180 voice; 1.6.0 160, 176; 1.5.0 152, 171; minilm 123, 158): a retrained model under them has lost ground.
BLIND_CASE_FLOORS = {"stance-mpnet-default": (0.85, 0.95), "stance-minilm": (0.65, 0.85)}


def shipped(name: str):
    return pytest.param(name, marks=skip_unless_available(name))


@pytest.fixture(scope="module", params=[shipped("default"), shipped("minilm")])
def model(request) -> StanceModel:
    return StanceModel.from_pretrained(request.param)


@pytest.fixture(scope="module")
def seed_sentences() -> list[str]:
    return [s.text for s in split_sentences(SEED_ARTICLE.read_text(encoding="utf-8"))]


def sentence_with(sentences: list[str], fragment: str) -> str:
    (match,) = [s for s in sentences if fragment in s]
    return match


@pytest.mark.parametrize(
    ("fragment", "target", "label"),
    [
        ("Serbia will never join NATO", "nato", "against"),
        ("accused Kremlin of “malign” influence", "russia", "against"),
        ("carrying Russian propaganda", "russia", "against"),
        ("instruments of the West", "west", "against"),
        ("must never join NATO", "nato", "against"),
        ("refused to align its foreign policies with the 27-nation bloc", "eu", "against"),
        ("EU foreign ministers meeting in Brussels", "eu", "neutral"),
    ],
)
def test_clear_sentences_of_the_seed_article(model, seed_sentences, fragment, target, label):
    predicted = model.predict(sentence_with(seed_sentences, fragment)).stance[target].label
    known_miss = KNOWN_MISSES.get((model.model_name, fragment, target))
    assert predicted == (known_miss or label)  # a mended miss fails here until it leaves KNOWN_MISSES and the card


# Misses its model card lists, as (model name, fragment, target): the label the model gives instead.
KNOWN_MISSES: dict[tuple[str, str, str], str] = {}


def test_an_accusation_by_western_officials_is_reported_voice(model, seed_sentences):
    assert model.predict(sentence_with(seed_sentences, "accused Kremlin")).voice.label == "reported"


@pytest.mark.parametrize(
    ("sentence", "target", "label"),
    [
        ("The bloc agreed a new package of sanctions, hailing its unity as a triumph of European values.", "eu", "favor"),
        ("The bloc's leaders are hypocrites who lecture others while buying Russian gas.", "eu", "against"),
        ("The alliance has never been stronger, its secretary general said.", "nato", "favor"),
        ("The alliance is a relic of the Cold War that threatens peace in Europe, Moscow said.", "nato", "against"),
        ("Moscow's brutal aggression has killed thousands of civilians.", "russia", "against"),
        ("Moscow has helped bring peace and stability to the region, the minister said.", "russia", "favor"),
        ("Washington accused Moscow of war crimes.", "russia", "against"),
    ],
)
def test_implicit_references(model, sentence, target, label):
    assert model.predict(sentence).stance[target].label == label


def test_negation_of_a_criticism_is_not_against(model):
    assert model.predict("It is not true that the alliance is weak.").stance["nato"].label == "favor"


def test_plain_reports_are_neutral(model):
    assert model.predict("Kremlin spokesman Dmitry Peskov said the talks would take place on Monday.").stance["russia"].label == "neutral"
    assert model.predict("The European Commission published its annual report on Tuesday.").stance["eu"].label == "neutral"


@pytest.mark.parametrize("sentence", ["Heavy rain closed several roads in Belgrade on Tuesday.", "The football match ended in a draw."])
def test_sentences_about_no_target_are_none_everywhere(model, sentence):
    prediction = model.predict(sentence)
    assert {result.label for result in prediction.stance.values()} == {"none"}
    assert prediction.voice.label == "author"


def test_the_seed_article_summary_is_against_nato(model):
    summary = model.analyze(SEED_ARTICLE.read_text(encoding="utf-8")).summary["nato"]
    assert summary.score < 0
    assert any("never join NATO" in evidence.text for evidence in summary.evidence)


def test_blind_cases_hold_their_measured_level(model):
    rows = read_checklist(SEEDS / "behaviour" / "blind-cases.jsonl")
    right, _, voice_right = score_checklist(model, rows)
    stance, voice = sum(right.values()) / len(rows), voice_right / len(rows)
    stance_floor, voice_floor = BLIND_CASE_FLOORS[model.model_name]
    assert stance >= stance_floor and voice >= voice_floor, (stance, voice)
