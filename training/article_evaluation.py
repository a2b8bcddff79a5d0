"""Measuring article-level multi-label predictions: micro-F1 (SemEval-2023 Task 3's official
frames metric), macro-F1, samples-F1 (each article's label set against gold, averaged: the
official SemEval-2025 Task 10 narratives score) and precision, recall and F1 per label."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from sklearn.metrics import f1_score, precision_recall_fscore_support
from sklearn.preprocessing import MultiLabelBinarizer
from stance.models.atomic import atomic_file, write_file


def multilabel_metrics(gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]], labels: Sequence[str]) -> dict:
    """Metrics over ``labels`` (the fallback included, when the set has one, as the organisers score it)."""
    binarizer = MultiLabelBinarizer(classes=list(labels))
    y_true, y_pred = binarizer.fit_transform(gold), binarizer.transform(predicted)
    precision, recall, f1, support = precision_recall_fscore_support(y_true, y_pred, average=None, zero_division=0)
    return {
        "micro_f1": float(f1_score(y_true, y_pred, average="micro", zero_division=0)),
        "macro_f1": float(f1_score(y_true, y_pred, average="macro", zero_division=0)),
        "samples_f1": float(f1_score(y_true, y_pred, average="samples", zero_division=1.0)),
        "labels": {
            label: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for label, p, r, f, s in zip(labels, precision, recall, f1, support, strict=True)
        },
        "articles": len(gold),
    }


def format_article_summary(metrics: dict) -> str:
    lines = [f"micro-F1 {metrics['micro_f1']:.3f}  macro-F1 {metrics['macro_f1']:.3f}  samples-F1 {metrics['samples_f1']:.3f}  ({metrics['articles']} articles)"]
    lines.append(f"{'label':<56} {'P':>6} {'R':>6} {'F1':>6} {'n':>5}")
    for label, m in metrics["labels"].items():
        lines.append(f"{label:<56} {m['precision']:6.3f} {m['recall']:6.3f} {m['f1']:6.3f} {m['support']:5d}")
    return "\n".join(lines)


def write_article_evaluation(output_dir: Path, metrics: dict, rows: list[dict]) -> None:
    """metrics.json, predictions.jsonl, classification_report.txt and a per-label F1 bar chart."""
    write_file(output_dir / "metrics.json", json.dumps(metrics, indent=2) + "\n")
    with atomic_file(output_dir / "predictions.jsonl") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    write_file(output_dir / "classification_report.txt", format_article_summary(metrics) + "\n")
    plot_label_f1(metrics, output_dir / "label_f1.png")


def plot_label_f1(metrics: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(metrics["labels"])
    values = np.array([metrics["labels"][name]["f1"] for name in names])
    figure, axis = plt.subplots(figsize=(7, 0.32 * len(names) + 1.2))
    axis.barh(range(len(names)), values, color="#3a6ea5")
    axis.set_yticks(range(len(names)), [name.removeprefix("URW: ") for name in names], fontsize=8)
    axis.invert_yaxis()
    axis.set_xlim(0, 1)
    axis.set_xlabel("F1")
    axis.set_title(f"per-label F1 (micro {metrics['micro_f1']:.3f}, samples {metrics['samples_f1']:.3f})")
    figure.tight_layout()
    with atomic_file(path, "wb") as handle:
        figure.savefig(handle, format="png", dpi=120)
    plt.close(figure)
