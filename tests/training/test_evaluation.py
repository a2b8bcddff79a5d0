"""Metrics against numbers worked out by hand, and the evaluator's files for a tiny model."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest
from stance.models import STANCE_LABELS, StanceModel
from stance.training.data import StanceExample
from stance.training.evaluation import (
    StanceEvaluator,
    expected_calibration_error,
    f_avg,
    f_avg_interval,
    f_avg_of_counts,
    format_summary,
    gated,
    label_metrics,
    macro_f1,
    stance_counts,
)

# ---- F_avg and macro-F1 ---------------------------------------------------------------

GOLD = ["favor", "favor", "favor", "against", "against", "neutral", "none", "none"]
PRED = ["favor", "favor", "against", "against", "none", "favor", "none", "against"]
# per label, F1 = 2TP / (2TP + FP + FN):
#   favor   TP 2, FP 1 (5), FN 1 (2)        -> 4/6 = 2/3
#   against TP 1, FP 2 (2, 7), FN 1 (4)     -> 2/5
#   neutral TP 0, FP 0, FN 1 (5)            -> 0
#   none    TP 1, FP 1 (4), FN 1 (7)        -> 2/4 = 1/2


def test_f_avg_is_the_mean_f1_of_favor_and_against():
    assert f_avg(GOLD, PRED) == pytest.approx((2 / 3 + 2 / 5) / 2)  # 8/15


def test_macro_f1_over_the_four_labels():
    assert macro_f1(GOLD, PRED) == pytest.approx((2 / 3 + 2 / 5 + 0 + 1 / 2) / 4)  # 47/120


def test_label_metrics():
    metrics = label_metrics(GOLD, PRED)
    assert metrics["f_avg"] == pytest.approx(8 / 15)
    assert metrics["macro_f1"] == pytest.approx(47 / 120)
    assert metrics["accuracy"] == pytest.approx(4 / 8)
    assert metrics["support"] == {"favor": 3, "against": 2, "neutral": 1, "none": 2}


def test_labels_absent_from_gold_and_predictions_are_left_out():
    gold = ["against", "against", "neutral", "none"]
    pred = ["against", "neutral", "neutral", "neutral"]
    # against TP 1, FN 1 -> 2/3; neutral TP 1, FP 2 -> 2/4; none FN 1 -> 0; favor nowhere
    assert f_avg(gold, pred) == pytest.approx(2 / 3)
    assert macro_f1(gold, pred) == pytest.approx((2 / 3 + 1 / 2 + 0) / 3)


def test_f_avg_edge_cases():
    assert f_avg([], []) == 0.0
    assert f_avg(["neutral", "none"], ["none", "neutral"]) == 0.0  # no stance at all
    assert f_avg(["neutral"], ["favor"]) == 0.0  # a predicted favor that is never gold
    assert f_avg(["favor", "against"], ["favor", "against"]) == 1.0
    assert f_avg(["favor", "against"], ["against", "favor"]) == 0.0
    assert macro_f1([], []) == 0.0


# ---- bootstrap intervals over articles ----------------------------------------------------


def test_f_avg_of_counts_is_f_avg_on_random_labels():
    rng = np.random.default_rng(0)
    for size in (1, 3, 10, 50):
        for _ in range(40):
            gold, predicted = rng.choice(STANCE_LABELS, size).tolist(), rng.choice(STANCE_LABELS, size).tolist()
            assert f_avg_of_counts(stance_counts(gold, predicted).sum(0)) == pytest.approx(f_avg(gold, predicted))


def _articles(count, *, prefix="a"):
    """``count`` articles of ten rows: eight right, one favor read as neutral, one against read as favor."""
    gold, predicted, groups = [], [], []
    for article in range(count):
        gold += ["favor", "favor", "favor", "against", "against", "against", "neutral", "none", "favor", "against"]
        predicted += ["favor", "favor", "favor", "against", "against", "against", "neutral", "none", "neutral", "favor"]
        groups += [f"{prefix}{article}"] * 10
    return gold, predicted, groups


def test_the_interval_holds_the_estimate_and_narrows_with_more_articles():
    gold, predicted, groups = _articles(6)
    gold[:10] = ["favor"] * 10  # one article unlike the others, so resamples differ
    low, high = f_avg_interval(gold, predicted, groups)
    assert low < f_avg(gold, predicted) < high
    many_low, many_high = f_avg_interval(gold * 8, predicted * 8, [f"{g}-{copy}" for copy in range(8) for g in groups])
    assert many_low <= f_avg(gold, predicted) <= many_high
    assert many_high - many_low < (high - low) / 2


def test_the_interval_resamples_whole_articles():
    gold, predicted, groups = _articles(8)
    swapped = {"favor": "against", "against": "favor"}
    predicted[40:] = [swapped.get(label, label) for label in gold[40:]]  # half the articles read wholly wrong
    by_article = f_avg_interval(gold, predicted, groups)
    by_sentence = f_avg_interval(gold, predicted, [str(i) for i in range(len(gold))])
    assert by_article[1] - by_article[0] > by_sentence[1] - by_sentence[0]


def test_a_paired_difference_is_zero_against_itself_and_positive_against_a_worse_model():
    gold, predicted, groups = _articles(6)
    assert f_avg_interval(gold, predicted, groups, baseline=predicted) == (0.0, 0.0)
    low, high = f_avg_interval(gold, gold, groups, baseline=predicted)
    assert 0.0 < low <= high
    assert f_avg_interval(gold, predicted, groups, baseline=gold)[1] < 0.0


def test_no_interval_from_one_article():
    gold, predicted, groups = _articles(1)
    assert f_avg_interval(gold, predicted, groups) is None


# ---- expected calibration error ---------------------------------------------------------


def test_ece_by_hand():
    probabilities = np.array(
        [
            [0.95, 0.05, 0.0, 0.0],  # confidence 0.95, right
            [0.05, 0.95, 0.0, 0.0],  # confidence 0.95, wrong
            [0.65, 0.35, 0.0, 0.0],  # confidence 0.65, right
            [0.30, 0.20, 0.45, 0.05],  # confidence 0.45, wrong
        ]
    )
    gold = np.array([0, 0, 0, 3])
    # bin (0.9, 1.0]: 2 rows, accuracy 1/2, confidence 0.95 -> 2/4 * 0.45
    # bin (0.6, 0.7]: 1 row, accuracy 1, confidence 0.65  -> 1/4 * 0.35
    # bin (0.4, 0.5]: 1 row, accuracy 0, confidence 0.45  -> 1/4 * 0.45
    assert expected_calibration_error(probabilities, gold) == pytest.approx(0.5 * 0.45 + 0.25 * 0.35 + 0.25 * 0.45)


def test_ece_averages_confidence_within_a_bin():
    probabilities = np.array([[0.72, 0.28, 0, 0], [0.78, 0.22, 0, 0]])
    # one bin (0.7, 0.8]: accuracy 1/2, mean confidence 0.75
    assert expected_calibration_error(probabilities, np.array([0, 1])) == pytest.approx(0.25)


def test_ece_of_perfect_and_of_no_predictions():
    assert expected_calibration_error(np.eye(4), np.arange(4)) == pytest.approx(0.0)
    assert expected_calibration_error(np.eye(4), np.array([1, 2, 3, 0])) == pytest.approx(1.0)
    assert expected_calibration_error(np.zeros((0, 4)), np.zeros(0, dtype=int)) == 0.0


# ---- StanceEvaluator.compute on fixed probabilities -------------------------------------

FIXED = [
    # text, target, gold, voice, article, sentence
    ("S0", "nato", "favor", "reported", "a1", 0),
    ("S1", "nato", "favor", "author", "a1", 1),
    ("S2", "nato", "favor", "author", "a2", 0),
    ("S3", "nato", "against", "reported", "a2", 1),
    ("S0", "eu", "against", "reported", "a1", 0),
    ("S5", "eu", "neutral", "author", "a3", 0),
    ("S6", "eu", "none", None, "a3", 1),
    ("S7", "eu", "none", "author", None, None),
]
VOICE = np.array([[0.3, 0.7], [0.8, 0.2], [0.4, 0.6], [0.1, 0.9], [0.6, 0.4], [0.9, 0.1], [0.5, 0.5], [0.2, 0.8]])


def _fixed():
    examples = [StanceExample(text=t, target=g, label=label, voice=v, article_id=a, sentence_id=s) for t, g, label, v, a, s in FIXED]
    stance = np.full((len(PRED), 4), 0.28 / 3)
    for i, label in enumerate(PRED):
        stance[i, STANCE_LABELS.index(label)] = 0.72
    return StanceEvaluator(examples), stance


def test_compute_overall():
    evaluator, stance = _fixed()
    metrics = evaluator.compute(stance, VOICE)
    overall = metrics["overall"]
    assert metrics["primary_metric"] == "f_avg"
    assert overall["f_avg"] == pytest.approx(8 / 15)
    assert overall["macro_f1"] == pytest.approx(47 / 120)
    assert overall["accuracy"] == pytest.approx(0.5)
    assert overall["ece"] == pytest.approx(abs(0.5 - 0.72))  # one bin
    assert overall["confusion_matrix"] == {
        "labels": list(STANCE_LABELS),
        "matrix": [[2, 1, 0, 0], [0, 1, 0, 1], [1, 0, 0, 0], [0, 1, 0, 1]],
    }
    interval = overall["f_avg_interval"]
    assert interval["groups"] == 4  # a1, a2, a3 and the sentence without an article
    assert interval["low"] <= 8 / 15 <= interval["high"]
    assert f"interval {interval['low']:.3f}-{interval['high']:.3f} (bootstrap over 4 articles)" in format_summary(metrics)
    report = overall["classification_report"]
    assert report["favor"]["f1-score"] == pytest.approx(2 / 3)
    assert report["against"]["precision"] == pytest.approx(1 / 3)


def test_compute_per_target():
    evaluator, stance = _fixed()
    targets = evaluator.compute(stance, VOICE)["targets"]
    assert set(targets) == {"nato", "eu"}
    # nato: gold favor favor favor against, predicted favor favor against against
    #   favor TP 2, FN 1 -> 4/5; against TP 1, FP 1 -> 2/3
    assert targets["nato"]["f_avg"] == pytest.approx((4 / 5 + 2 / 3) / 2)
    assert targets["nato"]["accuracy"] == pytest.approx(3 / 4)
    assert targets["nato"]["confusion_matrix"] == [[2, 1, 0, 0], [0, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]
    # eu: gold against neutral none none, predicted none favor none against
    #   favor FP 1 -> 0; against FP 1, FN 1 -> 0; neutral FN 1 -> 0; none TP 1, FP 1, FN 1 -> 1/2
    assert targets["eu"]["f_avg"] == 0.0
    assert targets["eu"]["macro_f1"] == pytest.approx(1 / 8)
    assert targets["eu"]["support"] == {"favor": 0, "against": 1, "neutral": 1, "none": 2}
    assert sum(map(sum, targets["eu"]["confusion_matrix"])) == 4


def test_compute_mean_of_targets_voice_articles_and_counts():
    evaluator, stance = _fixed()
    metrics = evaluator.compute(stance, VOICE)
    assert metrics["overall"]["f_avg_mean_of_targets"] == pytest.approx(((4 / 5 + 2 / 3) / 2 + 0.0) / 2)
    # voice is per sentence, P(reported) = P(a stance) x P(reported | it), each pair's stance mass
    # favor + against 0.813 (predicted stanced) or 0.187: S0 is scored twice (nato favor, eu none):
    # (1 - 0.187 x 0.813) x (0.7 x 0.813 + 0.4 x 0.187) = 0.546 -> reported, right; S1 right;
    # S2 0.6 x 0.813 = 0.488 -> author, right; S3 right, S5 right, S6 has no gold voice, S7 wrong
    assert metrics["voice"]["support"] == 6
    assert metrics["voice"]["accuracy"] == pytest.approx(5 / 6)
    # author TP 3, FN 1 -> 6/7; reported TP 2, FP 1 -> 4/5
    assert metrics["voice"]["macro_f1"] == pytest.approx((6 / 7 + 4 / 5) / 2)
    assert metrics["articles"] == {
        "a1": {"f_avg": pytest.approx(0.5), "accuracy": pytest.approx(2 / 3), "rows": 3},
        "a2": {"f_avg": pytest.approx(1 / 3), "accuracy": pytest.approx(0.5), "rows": 2},
        "a3": {"f_avg": 0.0, "accuracy": pytest.approx(0.5), "rows": 2},
    }
    assert metrics["counts"] == {"examples": 8, "sentences": 7}


def test_compute_without_any_gold_voice():
    examples = [StanceExample(text="NATO met.", target="nato", label="neutral")]
    metrics = StanceEvaluator(examples).compute(np.array([[0.1, 0.1, 0.7, 0.1]]), np.array([[0.9, 0.1]]))
    assert metrics["voice"] == {"accuracy": None, "support": 0}
    assert metrics["overall"]["accuracy"] == 1.0
    assert metrics["overall"]["f_avg_interval"] is None
    assert "voice accuracy" not in format_summary(metrics)
    assert "interval" not in format_summary(metrics)


def test_evaluator_needs_examples():
    with pytest.raises(ValueError, match="no examples"):
        StanceEvaluator([])


# ---- StanceEvaluator on the tiny model --------------------------------------------------

ROWS = [
    (
        "Serbia will never join NATO and will keep close ties with Moscow.",
        {"russia": "favor", "west": "none", "eu": "none", "nato": "against"},
        "author",
    ),
    (
        "The alliance condemned the Kremlin's aggression against its neighbours.",
        {"russia": "against", "nato": "neutral", "eu": "none"},
        "reported",
    ),
    ("Brussels praised the bloc's unity on sanctions against Russia.", {"eu": "favor", "russia": "neutral"}, "author"),
    ("The weather in Belgrade was mild on Monday.", {"russia": "none", "west": "none", "eu": "none", "nato": "none"}, "author"),
    ("Putin said the West was hostile to Russia.", {"west": "against", "russia": "neutral"}, "reported"),
]


def _examples() -> list[StanceExample]:
    return [
        StanceExample(text=text, target=target, label=label, voice=voice, article_id=f"art-{i // 3}", sentence_id=i)
        for i, (text, labels, voice) in enumerate(ROWS)
        for target, label in labels.items()
    ]


def _hand_f1(gold: list[str], predicted: list[str], labels: list[str]) -> float:
    present = [label for label in labels if label in gold or label in predicted]
    scores = []
    for label in present:
        tp = sum(g == p == label for g, p in zip(gold, predicted, strict=True))
        fp = sum(p == label != g for g, p in zip(gold, predicted, strict=True))
        fn = sum(g == label != p for g, p in zip(gold, predicted, strict=True))
        scores.append(2 * tp / (2 * tp + fp + fn))
    return sum(scores) / len(scores) if scores else 0.0


@pytest.fixture(scope="module")
def evaluated(tiny_model_dir, tmp_path_factory):
    model = StanceModel.from_pretrained(tiny_model_dir)
    examples = _examples()
    out = tmp_path_factory.mktemp("eval") / "out"
    metrics = StanceEvaluator(examples, gate=False)(model, output_dir=out)
    return model, examples, metrics, out


def test_metrics_json_structure(evaluated):
    _, examples, metrics, out = evaluated
    saved = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert saved == json.loads(json.dumps(metrics))
    for key in ("f_avg", "macro_f1", "accuracy", "ece"):
        assert 0.0 <= saved["overall"][key] <= 1.0
    assert set(saved["targets"]) == {"russia", "west", "eu", "nato"}
    for target, entry in saved["targets"].items():
        assert 0.0 <= entry["f_avg"] <= 1.0
        rows = sum(ex.target == target for ex in examples)
        assert sum(map(sum, entry["confusion_matrix"])) == rows
        assert sum(entry["support"].values()) == rows
    assert sum(map(sum, saved["overall"]["confusion_matrix"]["matrix"])) == len(examples)
    assert saved["counts"] == {"examples": len(examples), "sentences": len(ROWS)}
    assert saved["voice"]["support"] == len(ROWS)
    assert set(saved["articles"]) == {"art-0", "art-1"}
    assert sum(a["rows"] for a in saved["articles"].values()) == len(examples)


def test_predictions_jsonl_has_one_row_per_example_and_agrees_with_the_metrics(evaluated):
    _, examples, metrics, out = evaluated
    rows = [json.loads(line) for line in (out / "predictions.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(rows) == len(examples)
    for row, ex in zip(rows, examples, strict=True):
        assert (row["text"], row["target"], row["gold"], row["gold_voice"], row["article_id"]) == (
            ex.text,
            ex.target,
            ex.label,
            ex.voice,
            ex.article_id,
        )
        assert row["predicted"] == max(row["scores"], key=row["scores"].get)
        assert sum(row["scores"].values()) == pytest.approx(1.0, abs=1e-3)
    gold, predicted = [r["gold"] for r in rows], [r["predicted"] for r in rows]
    assert metrics["overall"]["f_avg"] == pytest.approx(_hand_f1(gold, predicted, ["favor", "against"]))
    assert metrics["overall"]["macro_f1"] == pytest.approx(_hand_f1(gold, predicted, list(STANCE_LABELS)))
    assert metrics["overall"]["accuracy"] == pytest.approx(np.mean([g == p for g, p in zip(gold, predicted, strict=True)]))
    counts = Counter(zip(gold, predicted, strict=True))
    expected_matrix = [[counts[g, p] for p in STANCE_LABELS] for g in STANCE_LABELS]
    assert metrics["overall"]["confusion_matrix"]["matrix"] == expected_matrix
    for target, entry in metrics["targets"].items():
        mine = [(r["gold"], r["predicted"]) for r in rows if r["target"] == target]
        assert entry["f_avg"] == pytest.approx(_hand_f1([g for g, _ in mine], [p for _, p in mine], ["favor", "against"]))


def test_report_and_confusion_matrix_image(evaluated):
    _, _, metrics, out = evaluated
    png = (out / "confusion_matrix.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(png) > 1000
    report = (out / "classification_report.txt").read_text(encoding="utf-8")
    assert report.startswith(format_summary(metrics))
    for label in STANCE_LABELS:
        assert label in report
    summary = format_summary(metrics)
    assert summary.splitlines()[1].startswith("overall")
    assert f"{metrics['overall']['f_avg']:7.3f}" in summary.splitlines()[1]
    assert len(summary.splitlines()) >= 1 + 1 + 4


def test_evaluator_scores_through_the_model(evaluated):
    model, examples, _, _ = evaluated
    stance, _ = StanceEvaluator(examples, gate=False).predict(model)
    for ex, probs in zip(examples[:4], stance[:4], strict=True):
        expected = model.predict(ex.text, targets=[ex.target], gate=False).stance[ex.target].scores
        assert np.allclose(probs, list(expected.values()), atol=1e-5)


def test_evaluator_gates_like_analyze(evaluated):
    """Rows with an article position are gated on the same window as ``analyze`` reads."""
    model, examples, _, _ = evaluated
    stance, voice = StanceEvaluator(examples).predict(model)  # the model's own gate (on)
    skipped = 0
    for article in ("art-0", "art-1"):
        rows = [(i, ex) for i, ex in enumerate(examples) if ex.article_id == article]
        sentences = list(dict.fromkeys(ex.text for _, ex in rows))
        analysis = model.analyze("\n".join(sentences))
        for i, ex in rows:
            expected = analysis.sentences[sentences.index(ex.text)].stance[ex.target]
            assert np.allclose(stance[i], list(expected.scores.values()), atol=1e-5)
            if not expected.scored:
                skipped += 1
                assert stance[i].tolist() == [0.0, 0.0, 0.0, 1.0]
                assert voice[i].tolist() == [1.0, 0.0]
    assert skipped, "the data should exercise the gate"


def test_rows_without_an_article_are_scored_like_predict(evaluated):
    model, examples, _, _ = evaluated
    lone = [StanceExample(text=ex.text, target=ex.target, label=ex.label) for ex in examples]
    assert gated(lone, model) == [False] * len(lone)
    assert any(gated(examples, model))


def test_voice_is_read_from_the_scored_pairs_that_take_a_stance():
    """As ``analyze`` makes it: gated pairs carry no voice evidence, nor do pairs without a stance."""
    examples = [
        StanceExample(text="He said Moscow lied.", target=target, label=label, voice="reported", article_id="a", sentence_id=0)
        for target, label in (("russia", "against"), ("west", "none"), ("eu", "none"), ("nato", "none"))
    ]
    stance = np.array([[0.05, 0.85, 0.05, 0.05], [0.0, 0.1, 0.1, 0.8], [0.0, 0.0, 0.1, 0.9], [0.0, 0.0, 0.1, 0.9]])
    voice = np.array([[0.2, 0.8], [1.0, 0.0], [1.0, 0.0], [1.0, 0.0]])
    evaluator = StanceEvaluator(examples)
    assert evaluator.compute(stance, voice, scored=np.array([True, False, False, False]))["voice"]["accuracy"] == 1.0
    assert evaluator.compute(stance, voice)["voice"]["accuracy"] == 1.0  # the pairs without a stance do not outvote it
    assert evaluator.compute(stance, voice, scored=np.array([False, True, True, True]))["voice"]["accuracy"] == 0.0
    assert evaluator.compute(stance, voice, scored=np.zeros(4, dtype=bool))["voice"]["accuracy"] == 0.0  # none scored: author


def test_the_gate_window_is_before_then_after(tiny_model_dir):
    """(3, 2) means three sentences before and two after: an asymmetric window tells them apart."""
    model = StanceModel.from_pretrained(tiny_model_dir)
    texts = ["NATO met in Brussels.", "The weather was mild.", "Belgrade had rain.", "The market was busy.", "Trains ran late."]
    rows = [StanceExample(text=t, target="nato", label="none", article_id="a", sentence_id=i) for i, t in enumerate(texts)]
    model.settings.gate_window = [2, 0]  # the alias in sentence 0 reaches sentences 1 and 2, not 3 and 4
    assert gated(rows, model) == [False, False, False, True, True]
    model.settings.gate_window = [0, 2]
    assert gated(rows, model) == [False, True, True, True, True]
    reversed_rows = [StanceExample(text=t, target="nato", label="none", article_id="a", sentence_id=i) for i, t in enumerate(texts[::-1])]
    assert gated(reversed_rows, model) == [True, True, False, False, False]  # the alias now last: two sentences before it see it


def test_a_gate_sampled_model_is_picked_behind_its_gate(evaluated):
    """--gate-sample trains on few of the pairs the gate skips, so its epochs are compared as analyze scores them."""
    from stance.training.arguments import TrainingArguments
    from stance.training.tasks import StanceTask

    model, examples, ungated, _ = evaluated
    assert any(gated(examples, model))
    assert not StanceTask.from_arguments(TrainingArguments()).gated_dev
    task = StanceTask.from_arguments(TrainingArguments(gate_sample=0.2))
    assert task.gated_dev
    picked = task.evaluate(model, examples)
    assert picked == StanceEvaluator(examples, gate=True)(model)
    assert picked["overall"] != ungated["overall"]
    assert StanceTask().evaluate(model, examples)["overall"] == ungated["overall"]
