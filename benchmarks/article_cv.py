"""Frames and narratives by 5-fold cross-validation by article (section 4 of issue 11).

Frames: the 433 English articles of SemEval-2023 Task 3 subtask 2 (official metric micro-F1).
Narratives: the 182 dev articles of SemEval-2025 Task 10 subtask 2 (official metric samples-F1),
``Other`` when no narrative is predicted. Folds are split by article (KFold, seed 42).

Systems, every threshold tuned on the training folds only (inner 5-fold predictions):

* label prior: every article gets the labels whose training frequency passes one threshold;
* always "Other" (narratives);
* TF-IDF (words 1-2) + one-vs-rest logistic regression, per-label thresholds;
* frozen MiniLM + one-vs-rest logistic regression: the packaged encoder read whole articles as
  ``ArticleLabelModel`` does (sentences packed into 256-token chunks, mean-pooled, chunk vectors
  averaged per article), a linear sigmoid head per label, per-label thresholds. With a linear
  head, averaging chunk logits (the model) equals the head over the averaged vectors (here).
* the shipped recipe (``stance train --frozen-encoder``, ``stance.training.article_heads``): the
  same vectors and head, plus a temperature, inner folds stratified per label, and every
  threshold shifted together to the task's metric; the same outer folds.

    python -m benchmarks.article_cv [--task frames narratives] [--folds 5]

``--layers 1 2 3 4 5 6`` prints instead the shipped recipe read from the encoder's first N
layers (``stance train --frozen-encoder --encoder-layers N``), one column per depth.

Needs ../shared. Article vectors are cached in runs/article-vectors-<task>[-layers<N>].npy.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import time

import numpy as np
import torch
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold, cross_val_predict
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import make_pipeline
from stance.models.framing import ArticleLabelModel
from stance.models.labelsets import LabelSet, default_labelset, multi_hot
from stance.training.article_data import load_article_examples
from stance.training.article_evaluation import multilabel_metrics
from stance.training.article_heads import HeadRecipe, cross_validated_decisions
from stance.training.article_tasks import tune_thresholds
from stance.training.data import shared_dir

from benchmarks.common import REPO

LABEL_FILES = {
    "frames": "datasets/semeval2023-task3/en/train-labels-subtask-2.txt",
    "narratives": "datasets/semeval2025-urw/dev-subtask-2-annotations.txt",
}
PUBLISHED = {
    "frames": "SemEval-2023 Task 3 English test: MarsEclipse (Liao et al. 2023) ranked first (its figure not checked here; a different split)",
    "narratives": "an LLM zero-shot system, 0.55 coarse samples-F1 on the official test set (a different split)",
}
SEED = 42


def decide(probabilities: np.ndarray, thresholds: dict[str, float], labelset: LabelSet) -> list[list[str]]:
    cut = np.array([thresholds.get(label, 0.5) for label in labelset.labels])
    fallback = [labelset.fallback] if labelset.fallback else []
    return [[label for label, on in zip(labelset.labels, row >= cut, strict=True) if on] or list(fallback) for row in probabilities]


def one_vs_rest_lr(*, C: float) -> OneVsRestClassifier:
    return OneVsRestClassifier(LogisticRegression(max_iter=2000, C=C, solver="liblinear"))


def one_vs_rest(features, gold: np.ndarray, train: np.ndarray, test: np.ndarray, make, labelset: LabelSet) -> list[list[str]]:
    """Fit per label on the training folds (labels with no positive there are never predicted),
    thresholds from inner cross-validated probabilities on the training folds."""
    present = gold[train].sum(0) > 0
    y = gold[train][:, present].astype(int)
    inner = cross_val_predict(make(), features[train], y, cv=KFold(5, shuffle=True, random_state=SEED), method="predict_proba")
    kept = [label for label, on in zip(labelset.labels, present, strict=True) if on]
    thresholds = tune_thresholds(inner, y, kept)
    classifier = make().fit(features[train], y)
    probabilities = np.zeros((len(test), len(labelset.labels)))
    probabilities[:, present] = classifier.predict_proba(features[test])
    thresholds.update({label: 2.0 for label, on in zip(labelset.labels, present, strict=True) if not on})
    return decide(probabilities, thresholds, labelset)


def label_prior(gold: np.ndarray, train: np.ndarray, test: np.ndarray, labelset: LabelSet, metric: str) -> list[list[str]]:
    frequency = gold[train].mean(0)
    train_gold = [[label for label, on in zip(labelset.labels, row, strict=True) if on] or ([labelset.fallback] if labelset.fallback else []) for row in gold[train]]

    def score(cut: float) -> float:
        chosen = decide(np.tile(frequency, (len(train), 1)), {label: cut for label in labelset.labels}, labelset)
        return multilabel_metrics(train_gold, chosen, labelset.output_labels)[metric]

    best = max(np.round(np.arange(0.05, 1.0, 0.05), 2), key=score)
    return decide(np.tile(frequency, (len(test), 1)), {label: best for label in labelset.labels}, labelset)


def article_vectors(task: str, texts: list[str], labelset: LabelSet, *, layers: int | None = None) -> np.ndarray:
    """The frozen packaged encoder's article vectors (its first ``layers`` layers), cached under runs/."""
    cache = REPO / "runs" / f"article-vectors-{task}{f'-layers{layers}' if layers else ''}.npy"
    if cache.is_file():
        return np.load(cache)
    started = time.perf_counter()
    model = ArticleLabelModel.from_encoder(None, labelset=labelset, lora_rank=None, frozen=True, max_length=256, layers=layers).eval()
    vectors = model.article_vectors(texts)
    cache.parent.mkdir(exist_ok=True)
    np.save(cache, vectors)
    print(f"{task}: {len(texts)} articles encoded ({layers or 'all'} layers) in {time.perf_counter() - started:.0f} s")
    return vectors


def gold_of(task: str):
    labelset = default_labelset(task)
    examples = load_article_examples(shared_dir() / LABEL_FILES[task], labelset=labelset)
    gold = np.array([multi_hot(ex.labels, labelset) for ex in examples])
    gold_sets = [list(ex.labels) or ([labelset.fallback] if labelset.fallback else []) for ex in examples]
    return labelset, examples, gold, gold_sets


def shipped_recipe_metrics(vectors: np.ndarray, task: str, *, folds: int = 5) -> dict:
    """The shipped head recipe's nested cross-validation on any article vectors (in ``gold_of`` order)."""
    labelset, _, gold, gold_sets = gold_of(task)
    decisions = cross_validated_decisions(vectors, gold.astype(np.float32), labelset, HeadRecipe(folds=folds, seed=SEED))
    return multilabel_metrics(gold_sets, decisions, labelset.output_labels)


def by_depth(task: str, folds: int, depths: list[int]) -> dict[int, dict]:
    """The shipped recipe read from the encoder's first N layers."""
    labelset, examples, _, _ = gold_of(task)
    texts = [ex.text for ex in examples]
    return {layers: shipped_recipe_metrics(article_vectors(task, texts, labelset, layers=layers), task, folds=folds) for layers in depths}


def run(task: str, folds: int) -> list[tuple[str, dict]]:
    labelset, examples, gold, gold_sets = gold_of(task)
    metric = "samples_f1" if labelset.fallback else "micro_f1"
    vectors = article_vectors(task, [ex.text for ex in examples], labelset)
    texts = np.array([ex.text for ex in examples], dtype=object)
    systems = {
        "label prior": lambda train, test: label_prior(gold, train, test, labelset, metric),
        "TF-IDF + LR": lambda train, test: one_vs_rest(
            texts, gold, train, test, lambda: make_pipeline(TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True), one_vs_rest_lr(C=10.0)), labelset
        ),
        "frozen MiniLM + LR": lambda train, test: one_vs_rest(vectors, gold, train, test, lambda: one_vs_rest_lr(C=1.0), labelset),
    }
    shipped = cross_validated_decisions(vectors, gold.astype(np.float32), labelset, HeadRecipe(folds=folds, seed=SEED))  # KFold(folds, seed) as below
    systems["shipped recipe (frozen MiniLM + LR, thresholds for the task's metric)"] = lambda train, test: [shipped[i] for i in test]
    if labelset.fallback:
        systems = {f'always "{labelset.fallback}"': lambda train, test: [[labelset.fallback] for _ in test], **systems}
    predictions = {name: [None] * len(examples) for name in systems}
    for train, test in KFold(folds, shuffle=True, random_state=SEED).split(examples):
        for name, system in systems.items():
            for row, labels in zip(test, system(train, test), strict=True):
                predictions[name][row] = labels
    return [(name, multilabel_metrics(gold_sets, predicted, labelset.output_labels)) for name, predicted in predictions.items()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", nargs="+", default=["frames", "narratives"], choices=["frames", "narratives"])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--layers", type=int, nargs="+", help="the shipped recipe on the encoder's first N layers, per N")
    args = parser.parse_args()
    torch.set_num_threads(max(1, len(os.sched_getaffinity(0))))
    print(f"{datetime.date.today()} · {platform.processor() or platform.machine()} · {len(os.sched_getaffinity(0))} cores\n")
    if args.layers:
        print("| task, metric | " + " | ".join(f"{n} layers" for n in args.layers) + " |")
        print("| --- " * (len(args.layers) + 1) + "|")
        for task in args.task:
            results = by_depth(task, args.folds, args.layers)
            for metric in ("micro_f1", "macro_f1", "samples_f1"):
                print(f"| {task}, {metric} | " + " | ".join(f"{results[n][metric]:.3f}" for n in args.layers) + " |")
        return
    for task in args.task:
        results = run(task, args.folds)
        print(f"### {task}: {args.folds}-fold cross-validation by article\n")
        print("| system | micro-F1 | macro-F1 | samples-F1 |")
        print("| --- | --- | --- | --- |")
        for name, metrics in results:
            print(f"| {name} | {metrics['micro_f1']:.3f} | {metrics['macro_f1']:.3f} | {metrics['samples_f1']:.3f} |")
        print(f"| published | {PUBLISHED[task]} | | |\n")


if __name__ == "__main__":
    main()
