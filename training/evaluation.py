"""Measuring a stance model: SemEval-style F_avg, macro-F1, calibration and voice accuracy."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from scipy import stats
from sklearn.metrics import classification_report, confusion_matrix, f1_score
from stance.models import STANCE_LABELS, VOICE_LABELS, StanceModel
from stance.models.atomic import atomic_file, write_file
from stance.models.modeling import SCORING_BATCH_SIZE
from stance.models.tasks import sentence_voice
from stance.training.data import StanceExample, gate_skips

STANCED = ["favor", "against"]
CONFIDENCE_LEVEL = 0.95  # of the F_avg intervals in reports


def f_avg(gold: Sequence[str], predicted: Sequence[str]) -> float:
    """Mean F1 of favor and against (SemEval-2016 Task 6); other labels count only as errors.

    A stance label that occurs neither in gold nor in predictions (no EU `favor` in a set)
    is left out of the mean rather than counted as an F1 of zero; with neither, 0.0.
    """
    present = set(gold) | set(predicted)
    labels = [label for label in STANCED if label in present]
    if not labels:
        return 0.0
    return float(f1_score(gold, predicted, labels=labels, average="macro", zero_division=0))


def stance_counts(gold: Sequence[str], predicted: Sequence[str]) -> np.ndarray:
    """Per row, the true positives, false positives and false negatives of favor and against: (rows, 2, 3)."""
    gold_is = np.asarray(gold, dtype=str)[:, None] == np.asarray(STANCED)
    predicted_is = np.asarray(predicted, dtype=str)[:, None] == np.asarray(STANCED)
    return np.stack([gold_is & predicted_is, predicted_is & ~gold_is, gold_is & ~predicted_is], axis=-1).astype(np.int64)


def f_avg_of_counts(counts: np.ndarray) -> np.ndarray:
    """``f_avg`` from summed ``stance_counts`` (..., 2, 3), for many resamples at once."""
    tp, fp, fn = counts[..., 0], counts[..., 1], counts[..., 2]
    present = tp + fp + fn > 0
    f1 = np.where(present, 2 * tp / np.maximum(2 * tp + fp + fn, 1), 0.0)
    labels = present.sum(-1)
    return np.where(labels > 0, f1.sum(-1) / np.maximum(labels, 1), 0.0)


def f_avg_interval(
    gold: Sequence[str],
    predicted: Sequence[str],
    groups: Sequence[str],
    *,
    baseline: Sequence[str] | None = None,
    confidence_level: float = CONFIDENCE_LEVEL,
    n_resamples: int = 2000,
    seed: int = 0,
) -> tuple[float, float] | None:
    """A bootstrap confidence interval of F_avg that resamples whole ``groups`` (articles): the sentences of one
    article share its source and its story, so resampling sentences would make the interval far too narrow.
    With ``baseline`` (another model's labels for the same rows), the interval of F_avg minus the baseline's on
    the same resamples, a paired difference. None with fewer than two groups."""
    names, group_of_row = np.unique(np.asarray(groups, dtype=str), return_inverse=True)
    if len(names) < 2:
        return None
    counts = stance_counts(gold, predicted)
    if baseline is not None:
        counts = np.concatenate([counts, stance_counts(gold, baseline)], axis=1)
    per_group = np.zeros((len(names), *counts.shape[1:]), dtype=np.int64)
    np.add.at(per_group, group_of_row, counts)

    def statistic(sample: np.ndarray, axis: int = -1) -> np.ndarray:
        summed = per_group[np.moveaxis(sample, axis, -1).astype(np.int64)].sum(-3)
        scores = f_avg_of_counts(summed[..., : len(STANCED), :])
        return scores - f_avg_of_counts(summed[..., len(STANCED) :, :]) if baseline is not None else scores

    result = stats.bootstrap(
        (np.arange(len(names)),),
        statistic,
        vectorized=True,
        n_resamples=n_resamples,
        confidence_level=confidence_level,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def expected_calibration_error(probabilities: np.ndarray, gold: np.ndarray, *, bins: int = 10) -> float:
    """Gap between confidence and accuracy of the top label, averaged over equal-width bins."""
    if len(gold) == 0:
        return 0.0
    confidence = probabilities.max(1)
    correct = probabilities.argmax(1) == gold
    edges = np.linspace(0.0, 1.0, bins + 1)
    total = 0.0
    for low, high in zip(edges[:-1], edges[1:], strict=True):
        inside = (confidence > low) & (confidence <= high)
        if inside.any():
            total += inside.mean() * abs(correct[inside].mean() - confidence[inside].mean())
    return float(total)


def macro_f1(gold: Sequence[str], predicted: Sequence[str]) -> float:
    """Macro-F1 over the labels that occur in gold or predictions, so a benchmark without
    ``none`` (NewsMTSC) is scored over its own three classes."""
    labels = [label for label in STANCE_LABELS if label in set(gold) | set(predicted)]
    return float(f1_score(gold, predicted, labels=labels, average="macro", zero_division=0)) if labels else 0.0


def label_metrics(gold: Sequence[str], predicted: Sequence[str]) -> dict:
    return {
        "f_avg": f_avg(gold, predicted),
        "macro_f1": macro_f1(gold, predicted),
        "accuracy": float(np.mean([g == p for g, p in zip(gold, predicted, strict=True)])) if gold else 0.0,
        "support": {label: int(sum(g == label for g in gold)) for label in STANCE_LABELS},
    }


def gated(examples: Sequence[StanceExample], model: StanceModel) -> list[bool]:
    """Which examples ``model``'s alias gate leaves to the prior (``gate_skips`` with its targets and window)."""
    return gate_skips(examples, targets=model.targets, window=model.settings.gate_window)


class StanceEvaluator:
    """Scores a model on labelled examples; the primary metric is overall F_avg."""

    primary_metric = "f_avg"

    def __init__(self, examples: Sequence[StanceExample], *, gate: bool | None = None, batch_size: int = SCORING_BATCH_SIZE) -> None:
        if not examples:
            raise ValueError("nothing to evaluate: no examples")
        self.examples = list(examples)
        self.gate = gate
        self.batch_size = batch_size

    def scored(self, model: StanceModel) -> np.ndarray:
        """Which examples the model scores (the others are left to the alias gate's prior)."""
        gate = model.settings.gate if self.gate is None else self.gate
        return ~np.array(gated(self.examples, model), dtype=bool) if gate else np.ones(len(self.examples), dtype=bool)

    def predict(self, model: StanceModel) -> tuple[np.ndarray, np.ndarray]:
        """Stance and voice probabilities per example, through the same path as ``analyze``."""
        return self._predict(model, self.scored(model))

    def _predict(self, model: StanceModel, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Scored pairs from the model; the others get the gate's prior (and no voice: ``sentence_voice``
        leaves them out, as ``analyze`` does).

        On a runtime (int8 ONNX) each article is scored in batches of its own, as ``analyze`` scores one
        article: int8 picks its activation scales per batch, so shared batches would let an article's scores
        (and the F_avg) move with whichever other articles a file holds. Torch gives the same scores in any
        batch, so there one call keeps the batches full (a quarter faster on the dev split, every epoch)."""
        stance = np.tile(model.settings.prior_probabilities(), (len(self.examples), 1))
        voice = np.zeros((len(self.examples), len(VOICE_LABELS)), dtype=np.float32)
        voice[:, 0] = 1.0
        groups: dict[str | None, list[int]] = defaultdict(list)
        for i in np.flatnonzero(mask).tolist():
            groups[self.examples[i].article_id if model.runtime is not None else None].append(i)
        for rows in groups.values():
            texts = [self.examples[i].text for i in rows]
            queries = [self.examples[i].query_in(model.targets) for i in rows]
            scores = model.score_pairs(texts, queries, batch_size=self.batch_size)
            stance[rows], voice[rows] = scores["stance"], scores["voice"]
        return stance, voice

    def __call__(self, model: StanceModel, *, output_dir: str | Path | None = None) -> dict:
        scored = self.scored(model)
        stance, voice = self._predict(model, scored)
        metrics = self.compute(stance, voice, scored=scored)
        if output_dir is not None:
            self.write(Path(output_dir), metrics, stance, voice)
        return metrics

    def compute(self, stance: np.ndarray, voice: np.ndarray, *, scored: np.ndarray | None = None) -> dict:
        """Metrics from probabilities; ``scored`` marks the pairs the model scored (all by
        default): a sentence's voice is the mean over those, as ``analyze`` makes it."""
        examples = self.examples
        gold = [ex.label for ex in examples]
        predicted = [STANCE_LABELS[i] for i in stance.argmax(1)]
        gold_idx = np.array([STANCE_LABELS.index(g) for g in gold])
        metrics: dict = {"primary_metric": self.primary_metric, "overall": label_metrics(gold, predicted)}
        groups = [ex.group for ex in examples]
        interval = f_avg_interval(gold, predicted, groups)
        metrics["overall"]["f_avg_interval"] = (
            None
            if interval is None
            else {"low": interval[0], "high": interval[1], "confidence_level": CONFIDENCE_LEVEL, "groups": len(set(groups))}
        )
        metrics["overall"]["ece"] = expected_calibration_error(stance, gold_idx)
        metrics["overall"]["classification_report"] = classification_report(
            gold, predicted, labels=list(STANCE_LABELS), output_dict=True, zero_division=0
        )
        metrics["overall"]["confusion_matrix"] = {
            "labels": list(STANCE_LABELS),
            "matrix": confusion_matrix(gold, predicted, labels=list(STANCE_LABELS)).tolist(),
        }
        by_target: dict[str, list[int]] = defaultdict(list)
        for i, ex in enumerate(examples):
            by_target[ex.target].append(i)
        metrics["targets"] = {}
        for target, rows in by_target.items():
            entry = label_metrics([gold[i] for i in rows], [predicted[i] for i in rows])
            entry["ece"] = expected_calibration_error(stance[rows], gold_idx[rows])
            entry["confusion_matrix"] = confusion_matrix(
                [gold[i] for i in rows], [predicted[i] for i in rows], labels=list(STANCE_LABELS)
            ).tolist()
            metrics["targets"][target] = entry
        metrics["overall"]["f_avg_mean_of_targets"] = float(np.mean([m["f_avg"] for m in metrics["targets"].values()]))
        metrics["voice"] = self._voice_metrics(voice, stance, np.ones(len(examples), dtype=bool) if scored is None else scored)
        metrics["articles"] = self._article_metrics(gold, predicted)
        metrics["counts"] = {"examples": len(examples), "sentences": len({(ex.group, ex.text) for ex in examples})}
        return metrics

    def _voice_metrics(self, voice: np.ndarray, stance: np.ndarray, scored: np.ndarray) -> dict:
        """Voice is per sentence, from its scored pairs as ``analyze`` reads it (``sentence_voice``), counted once."""
        per_sentence: dict[tuple, list[int]] = defaultdict(list)
        for i, ex in enumerate(self.examples):
            if ex.voice is not None:
                per_sentence[(ex.group, ex.sentence_id, ex.text)].append(i)
        if not per_sentence:
            return {"accuracy": None, "support": 0}
        gold, predicted = [], []
        for rows in per_sentence.values():
            gold.append(self.examples[rows[0]].voice)
            chosen = [i for i in rows if scored[i]]
            predicted.append(sentence_voice(voice[chosen], stance[chosen])[0])
        return {
            "accuracy": float(np.mean([g == p for g, p in zip(gold, predicted, strict=True)])),
            "macro_f1": float(f1_score(gold, predicted, labels=list(VOICE_LABELS), average="macro", zero_division=0)),
            "support": len(gold),
        }

    def _article_metrics(self, gold: list[str], predicted: list[str]) -> dict:
        by_article: dict[str, list[int]] = defaultdict(list)
        for i, ex in enumerate(self.examples):
            if ex.article_id:
                by_article[ex.article_id].append(i)
        return {
            article: {
                "f_avg": f_avg([gold[i] for i in rows], [predicted[i] for i in rows]),
                "accuracy": float(np.mean([gold[i] == predicted[i] for i in rows])),
                "rows": len(rows),
            }
            for article, rows in sorted(by_article.items())
        }

    def write(self, output_dir: Path, metrics: dict, stance: np.ndarray, voice: np.ndarray) -> None:
        write_file(output_dir / "metrics.json", json.dumps(metrics, indent=2) + "\n")
        with atomic_file(output_dir / "predictions.jsonl") as handle:
            for ex, probs, voice_probs in zip(self.examples, stance, voice, strict=True):
                row = {
                    "article_id": ex.article_id,
                    "sentence_id": ex.sentence_id,
                    "text": ex.text,
                    "target": ex.target,
                    "gold": ex.label,
                    "predicted": STANCE_LABELS[int(probs.argmax())],
                    "scores": {label: round(float(p), 4) for label, p in zip(STANCE_LABELS, probs, strict=True)},
                    "gold_voice": ex.voice,
                    "predicted_voice": VOICE_LABELS[int(voice_probs.argmax())],
                }
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        write_file(output_dir / "classification_report.txt", self._report_text(metrics))
        plot_confusion_matrix(metrics["overall"]["confusion_matrix"]["matrix"], output_dir / "confusion_matrix.png")

    def _report_text(self, metrics: dict) -> str:
        lines = [format_summary(metrics), ""]
        report = metrics["overall"]["classification_report"]
        lines.append(f"{'':>12} {'precision':>9} {'recall':>9} {'f1':>9} {'support':>9}")
        for label in STANCE_LABELS:
            row = report[label]
            lines.append(f"{label:>12} {row['precision']:9.3f} {row['recall']:9.3f} {row['f1-score']:9.3f} {int(row['support']):9d}")
        return "\n".join(lines) + "\n"


def format_summary(metrics: dict) -> str:
    """A small table: F_avg and macro-F1 overall and per target."""
    lines = [f"{'target':<10} {'F_avg':>7} {'macroF1':>8} {'acc':>7} {'ECE':>6}"]
    rows = [("overall", metrics["overall"])] + list(metrics["targets"].items())
    for name, m in rows:
        lines.append(f"{name:<10} {m['f_avg']:7.3f} {m['macro_f1']:8.3f} {m['accuracy']:7.3f} {m.get('ece', 0.0):6.3f}")
    interval = metrics["overall"].get("f_avg_interval")
    if interval is not None:
        lines.append(
            f"F_avg {interval['confidence_level']:.0%} interval {interval['low']:.3f}-{interval['high']:.3f}"
            f" (bootstrap over {interval['groups']} articles)"
        )
    voice = metrics.get("voice", {})
    if voice.get("accuracy") is not None:
        lines.append(f"voice accuracy {voice['accuracy']:.3f} over {voice['support']} sentences")
    return "\n".join(lines)


def plot_confusion_matrix(matrix: list[list[int]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import ConfusionMatrixDisplay

    figure, axis = plt.subplots(figsize=(4.5, 4))
    ConfusionMatrixDisplay(np.array(matrix), display_labels=list(STANCE_LABELS)).plot(ax=axis, colorbar=False, cmap="Blues")
    axis.set_title("stance (gold rows, predicted columns)")
    figure.tight_layout()
    with atomic_file(path, "wb") as handle:
        figure.savefig(handle, format="png", dpi=120)
    plt.close(figure)
