"""Head-only training of an article task on a frozen encoder (``stance train --task frames
--frozen-encoder``): every article is read once (the mean of its chunks' pooled vectors) and a
logistic regression per label is fitted on those vectors, so training costs one encoder pass
over the data instead of one per epoch. A linear head over the mean of the chunk vectors equals
the mean of the chunks' logits, which is how ``ArticleLabelModel`` reads an article, so the fitted
weights are its head as they are, and the saved folder holds the head only (a few kB).

There is no dev split: the temperature and the per-label thresholds are fitted on out-of-fold
logits (k folds over the training articles, stratified per label). The model's estimate is a
nested cross-validation of the whole recipe (k folds by article; in each, the head, temperature
and thresholds fitted on the other folds alone), reported beside the always-fallback baseline
when the label set has a fallback. Both cost seconds: the articles are encoded once."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from scipy.special import expit
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold, StratifiedKFold, cross_val_predict
from stance.models.framing import ArticleLabelModel, ArticleSettings
from stance.models.labelsets import LabelSet, multi_hot
from stance.training.article_data import ArticleExample
from stance.training.article_evaluation import format_article_summary, multilabel_metrics
from stance.training.article_tasks import tune_thresholds
from stance.training.tasks import fit_temperature

NEVER_BIAS = -20.0  # the bias of a label with no positive (or no negative) article to learn from


@dataclass(kw_only=True)
class HeadRecipe:
    """The settings of a head-only fit, saved as ``training_config.json``."""

    encoder: str | None = None
    max_length: int = 256
    layers: int | None = None  # the frozen encoder's first layers only (None: all)
    regularization: float = 1.0  # scikit-learn's C: the inverse L2 penalty of each label's logistic regression
    folds: int = 5
    seed: int = 42
    model_name: str = "framing-model"
    model_version: str = "0"

    def __post_init__(self) -> None:
        if self.folds < 2:
            raise ValueError("folds must be at least 2")
        if not self.regularization > 0:
            raise ValueError("regularization must be positive")


@dataclass
class HeadFit:
    weight: np.ndarray  # (labels, hidden)
    bias: np.ndarray  # (labels,)
    temperature: float
    thresholds: dict[str, float]


def fit_linear_head(vectors: np.ndarray, gold: np.ndarray, labelset: LabelSet, *, regularization: float, folds: int, seed: int) -> HeadFit:
    """A logistic regression per label on article vectors; calibration from out-of-fold logits."""
    labels = labelset.labels
    weight = np.zeros((len(labels), vectors.shape[1]), dtype=np.float32)
    bias = np.full(len(labels), NEVER_BIAS, dtype=np.float32)
    out_of_fold = np.full(gold.shape, NEVER_BIAS, dtype=np.float32)
    for column in range(len(labels)):
        truth = gold[:, column].astype(int)
        rarer = min(int(truth.sum()), len(truth) - int(truth.sum()))
        if rarer == 0:
            continue
        classifier = LogisticRegression(C=regularization, solver="liblinear", max_iter=2000)
        if rarer >= 2:  # else some training fold lacks one class: no out-of-fold estimate for the label
            splits = StratifiedKFold(min(folds, rarer), shuffle=True, random_state=seed)
            out_of_fold[:, column] = cross_val_predict(classifier, vectors, truth, cv=splits, method="decision_function")
        classifier.fit(vectors, truth)
        weight[column], bias[column] = classifier.coef_[0], classifier.intercept_[0]
    temperature = fit_temperature(torch.from_numpy(out_of_fold), torch.from_numpy(gold.astype(np.float32)), multi_label=True)
    probabilities = expit(out_of_fold / temperature)
    thresholds = shift_thresholds(probabilities, gold, labelset, tune_thresholds(probabilities, gold, labels))
    return HeadFit(weight, bias, temperature, thresholds)


SHIFTS = np.round(np.arange(-0.3, 0.501, 0.05), 2)


def shift_thresholds(probabilities: np.ndarray, gold: np.ndarray, labelset: LabelSet, thresholds: dict[str, float]) -> dict[str, float]:
    """Every label's threshold moved by one shift, the one with the best article-level metric of the
    task (samples-F1 with a fallback, else micro-F1) on the out-of-fold probabilities: per-label F1
    alone favours recall on rare labels, which costs the fallback articles their right answer."""
    fallback = [labelset.fallback] if labelset.fallback else []
    metric = "samples_f1" if fallback else "micro_f1"
    truth = [[label for label, on in zip(labelset.labels, row, strict=True) if on] or list(fallback) for row in gold > 0.5]
    base = np.array([thresholds.get(label, 0.5) for label in labelset.labels])

    def score(shift: float) -> float:
        passed = probabilities >= np.clip(base + shift, 0.01, 0.99)
        predicted = [[label for label, on in zip(labelset.labels, row, strict=True) if on] or list(fallback) for row in passed]
        return multilabel_metrics(truth, predicted, labelset.output_labels)[metric]

    best = max(SHIFTS, key=lambda shift: (score(shift), -abs(shift)))
    return {label: float(np.clip(base[i] + best, 0.01, 0.99)) for i, label in enumerate(labelset.labels)}


def cross_validated_decisions(vectors: np.ndarray, gold: np.ndarray, labelset: LabelSet, recipe: HeadRecipe) -> list[list[str]]:
    """Each article's labels from the recipe fitted without it (``recipe.folds`` folds by article)."""
    decisions: list[list[str]] = [[] for _ in range(len(gold))]
    fallback = [labelset.fallback] if labelset.fallback else []
    for train, test in KFold(recipe.folds, shuffle=True, random_state=recipe.seed).split(vectors):
        fit = fit_linear_head(vectors[train], gold[train], labelset, regularization=recipe.regularization, folds=recipe.folds, seed=recipe.seed)
        probabilities = expit((vectors[test] @ fit.weight.T + fit.bias) / fit.temperature)
        cut = np.array([fit.thresholds.get(label, 0.5) for label in labelset.labels])
        for row, passed in zip(test, probabilities >= cut, strict=True):
            decisions[row] = [label for label, on in zip(labelset.labels, passed, strict=True) if on] or list(fallback)
    return decisions


@dataclass
class HeadResult:
    model: ArticleLabelModel
    metrics: dict  # nested cross-validation of the recipe
    baseline: dict | None  # always the fallback, when the label set has one
    seconds: float
    articles: int


def train_frozen_head(
    examples: Sequence[ArticleExample], labelset: LabelSet, recipe: HeadRecipe, *, progress: Callable[[str], None] | None = None
) -> HeadResult:
    started = time.perf_counter()
    model = ArticleLabelModel.from_encoder(recipe.encoder, labelset=labelset, lora_rank=None, frozen=True, max_length=recipe.max_length, layers=recipe.layers, seed=recipe.seed)
    model.settings = ArticleSettings(model_name=recipe.model_name, model_version=recipe.model_version)
    if progress:
        progress(f"reading {len(examples)} articles with the frozen encoder")
    vectors = model.article_vectors([ex.text for ex in examples])
    gold = np.array([multi_hot(ex.labels, labelset) for ex in examples], dtype=np.float32)
    fit = fit_linear_head(vectors, gold, labelset, regularization=recipe.regularization, folds=recipe.folds, seed=recipe.seed)
    with torch.no_grad():
        model.heads[labelset.task].weight.copy_(torch.from_numpy(fit.weight))
        model.heads[labelset.task].bias.copy_(torch.from_numpy(fit.bias))
    model.head.temperature, model.head.thresholds = fit.temperature, fit.thresholds
    fallback = [labelset.fallback] if labelset.fallback else []
    gold_sets = [list(ex.labels) or list(fallback) for ex in examples]
    metrics = multilabel_metrics(gold_sets, cross_validated_decisions(vectors, gold, labelset, recipe), labelset.output_labels)
    baseline = multilabel_metrics(gold_sets, [list(fallback)] * len(examples), labelset.output_labels) if fallback else None
    return HeadResult(model=model.eval(), metrics=metrics, baseline=baseline, seconds=time.perf_counter() - started, articles=len(examples))


def save_head_model(result: HeadResult, recipe: HeadRecipe, output: str | Path, *, files: Sequence[str]) -> Path:
    config = {
        "task": result.model.task,
        "recipe": "frozen encoder + logistic regression per label",
        "training": asdict(recipe),
        "data": {"articles": result.articles, "files": list(files)},
        "cross_validated_metrics": _headline(result.metrics),
        "always_fallback_metrics": _headline(result.baseline) if result.baseline else None,
    }
    return result.model.save_pretrained(
        output, model_card=head_model_card(result, recipe, files), extra_files={"training_config.json": json.dumps(config, indent=2) + "\n"}
    )


def _headline(metrics: dict) -> dict:
    return {key: metrics[key] for key in ("micro_f1", "macro_f1", "samples_f1", "articles")}


def head_model_card(result: HeadResult, recipe: HeadRecipe, files: Sequence[str]) -> str:
    model, labelset = result.model, result.model.labelset
    encoder = model.backbone.settings.encoder
    lines = [
        f"# {model.model_name} {model.model_version}",
        "",
        f"Article-level {labelset.task}: {len(labelset.labels)} labels, multi-label"
        + (f", `{labelset.fallback}` when none passes its threshold" if labelset.fallback else "")
        + ". A linear head only (this folder holds no encoder weights), over the frozen encoder "
        f"`{encoder['name_or_path']}`" + (f" {encoder['package_version']}" if encoder.get("package_version") else "")
        + (f", its first {recipe.layers} layers" if recipe.layers else "") + ".",
        "",
        "## How it reads an article",
        f"Sentences packed into chunks of up to {recipe.max_length} tokens, each chunk mean-pooled by the encoder, the head's",
        "logits averaged over the chunks; a temperature and a threshold per label turn them into labels.",
        "",
        "## Training",
        f"- data: {result.articles} articles from {', '.join(f'`{f}`' for f in files)}",
        f"- one logistic regression per label (L2, C={recipe.regularization:g}) on every article; temperature "
        f"({model.head.temperature:.2f}) and thresholds fitted on {recipe.folds}-fold out-of-fold logits (stratified per label, seed {recipe.seed})",
        f"- took {result.seconds / 60:.1f} minutes",
        "",
        "## Command",
        "```bash",
        f"stance train --task {labelset.task} --frozen-encoder --data {' '.join(files)} --max-length {recipe.max_length} --seed {recipe.seed} "
        f"--name {model.model_name} --model-version {model.model_version} --output OUTPUT"
        + (f" --encoder {encoder['name_or_path']}" if recipe.encoder else "")
        + (f" --encoder-layers {recipe.layers}" if recipe.layers else ""),
        "```",
        "",
        f"## Cross-validated estimate ({recipe.folds}-fold by article, nested: each fold's head, temperature and thresholds fitted on the other folds only)",
        "",
        "```",
        format_article_summary(result.metrics),
        "```",
        "",
    ]
    if result.baseline:
        beaten = result.metrics["samples_f1"] > result.baseline["samples_f1"]
        lines += [
            f"Always answering `{labelset.fallback}`: samples-F1 {result.baseline['samples_f1']:.3f}, micro-F1 {result.baseline['micro_f1']:.3f}. "
            + (
                f"This model beats it on samples-F1 by {result.metrics['samples_f1'] - result.baseline['samples_f1']:.3f}, "
                f"with macro-F1 {result.metrics['macro_f1']:.3f}: check how often it answers `{labelset.fallback}` before trusting its labels."
                if beaten
                else f"**This model does not beat always `{labelset.fallback}` on samples-F1** (the official metric)."
            ),
            "",
        ]
    lines += [
        "The same folds with TF-IDF and label-prior baselines: `python -m benchmarks.article_cv` (BENCHMARKS.md, \"Frames and narratives\").",
        "",
        "## Limits",
        "- The estimate is cross-validated on the training articles, not on a held-out test set; the shipped head is fitted on all of them.",
        "- The labels are the organisers' English annotations; other languages and other outlets are untested.",
        "- Evidence is the chunk (consecutive sentences, up to the chunk length) whose logit for the label is highest, not a sentence-level attribution.",
        "",
    ]
    return "\n".join(lines)


def report(result: HeadResult) -> str:
    text = format_article_summary(result.metrics)
    if result.baseline:
        text += f"\nalways {result.model.labelset.fallback!r}: samples-F1 {result.baseline['samples_f1']:.3f}, micro-F1 {result.baseline['micro_f1']:.3f}"
    return text

