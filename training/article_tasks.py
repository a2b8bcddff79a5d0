"""Training frames and narratives with the same ``Trainer`` as stance: each chunk of an article
is a training input carrying its article's labels (binary cross-entropy per label); dev is
scored per article, on chunk logits averaged as ``ArticleLabelModel`` does at run time. The
best epoch is picked on micro-F1 (frames) or samples-F1 (narratives, with ``Other``), then a
temperature and a threshold per label are fitted on dev."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from stance.models.framing import ArticleLabelModel
from stance.models.labelsets import LabelSet, multi_hot
from stance.training.arguments import TrainingArguments
from stance.training.article_data import ArticleExample
from stance.training.article_evaluation import format_article_summary, multilabel_metrics, write_article_evaluation
from stance.training.tasks import fit_temperature
from torch import nn

THRESHOLD_GRID = np.round(np.arange(0.05, 0.951, 0.05), 2)
DEFAULT_ARTICLE_MAX_LENGTH = 256


class ArticleLabelTask:
    def __init__(self, labelset: LabelSet) -> None:
        self.labelset = labelset
        self.name = labelset.task
        self.primary_metric = "samples_f1" if labelset.fallback else "micro_f1"
        self._loss = nn.BCEWithLogitsLoss()

    def new_model(self, args: TrainingArguments, targets=None) -> ArticleLabelModel:
        return ArticleLabelModel.from_encoder(
            args.encoder, labelset=self.labelset, lora_rank=args.lora_rank or None, max_length=args.max_length, seed=args.seed
        )

    # ---- training -----------------------------------------------------------------

    def features(self, model: ArticleLabelModel, examples: Sequence[ArticleExample]) -> list[dict]:
        texts, labels = [], []
        for ex in examples:
            chunk_texts = model.read(ex.text).chunk_texts()
            texts.extend(chunk_texts)
            labels.extend([multi_hot(ex.labels, self.labelset)] * len(chunk_texts))
        encoded = model.backbone.tokenize(texts, padding=False, return_tensors=None)
        return [{"inputs": {key: encoded[key][i] for key in encoded}, "labels": {self.name: labels[i]}} for i in range(len(texts))]

    def prepare(self, train_examples: Sequence[ArticleExample], device: torch.device) -> None:
        """Nothing to fit: every label weighs the same."""

    def loss(self, outputs: dict[str, torch.Tensor], labels: dict[str, torch.Tensor]) -> torch.Tensor:
        return self._loss(outputs[self.name], labels[self.name].float())

    # ---- dev ----------------------------------------------------------------------

    def predictions(self, model: ArticleLabelModel, examples: Sequence[ArticleExample]) -> tuple[np.ndarray, list[list[str]]]:
        logits, _ = model.article_logits([ex.text for ex in examples])
        probabilities = model.head.probabilities(logits)
        return probabilities, model.decide(probabilities)

    def gold(self, examples: Sequence[ArticleExample]) -> list[list[str]]:
        fallback = [self.labelset.fallback] if self.labelset.fallback else []
        return [list(ex.labels) or list(fallback) for ex in examples]

    def evaluate(self, model: ArticleLabelModel, examples: Sequence[ArticleExample], *, final: bool = False, output_dir: str | Path | None = None) -> dict:
        probabilities, predicted = self.predictions(model, examples)
        gold = self.gold(examples)
        metrics = multilabel_metrics(gold, predicted, self.labelset.output_labels)
        metrics["primary_metric"] = self.primary_metric
        if output_dir is not None:
            rows = [
                {"article_id": ex.article_id, "gold": truth, "predicted": labels, "scores": {k: round(float(p), 4) for k, p in zip(self.labelset.labels, probs, strict=True)}}
                for ex, truth, labels, probs in zip(examples, gold, predicted, probabilities, strict=True)
            ]
            write_article_evaluation(Path(output_dir), metrics, rows)
        return metrics

    def epoch_summary(self, metrics: dict) -> dict[str, float]:
        return {f"dev_{key}": metrics[key] for key in ("micro_f1", "macro_f1", "samples_f1")}

    def calibrate(self, model: ArticleLabelModel, examples: Sequence[ArticleExample]) -> None:
        """A temperature on the articles' pooled logits, then per label the threshold with the best dev F1."""
        logits, _ = model.article_logits([ex.text for ex in examples])
        gold = np.array([multi_hot(ex.labels, self.labelset) for ex in examples], dtype=np.float32)
        head = model.head
        head.temperature = fit_temperature(torch.from_numpy(logits), torch.from_numpy(gold), multi_label=True)
        head.thresholds = tune_thresholds(head.probabilities(logits), gold, self.labelset.labels)

    def headline_metrics(self, metrics: dict) -> dict:
        return {key: metrics[key] for key in ("micro_f1", "macro_f1", "samples_f1", "articles")}

    def model_card(self, result, args: TrainingArguments, data_counts: dict) -> str:
        model = result.model
        lines = [
            f"# {model.model_name} {model.model_version}",
            "",
            f"Article-level {self.name} ({len(self.labelset.labels)} labels, multi-label"
            + (f", `{self.labelset.fallback}` when none passes" if self.labelset.fallback else "")
            + "), trained with this project's `stance train --task " + self.name + "`.",
            "",
            "## Encoder",
            f"- `{model.backbone.settings.encoder['name_or_path']}`, {'LoRA rank ' + str(args.lora_rank) if args.lora_rank else 'fully fine-tuned'}, "
            f"chunks of {model.backbone.settings.max_length} tokens, chunk logits averaged per article",
            "",
            "## Training data",
            *[f"- {key}: {value}" for key, value in data_counts.items() if key != "dev article ids"],
            "",
            "## Training history",
            "| epoch | train loss | dev micro-F1 | dev macro-F1 | dev samples-F1 |",
            "| --- | --- | --- | --- | --- |",
            *[
                f"| {h['epoch']} | {h['train_loss']:.4f} | {h.get('dev_micro_f1', float('nan')):.3f} | {h.get('dev_macro_f1', float('nan')):.3f} | "
                f"{h.get('dev_samples_f1', float('nan')):.3f} |"
                for h in result.history
            ],
            f"\n{result.summary()}",
            "",
        ]
        if result.dev_metrics:
            lines += ["## Dev metrics (after calibration: temperature and per-label thresholds)", "", "```", format_article_summary(result.dev_metrics), "```", ""]
        return "\n".join(lines)


def tune_thresholds(probabilities: np.ndarray, gold: np.ndarray, labels: Sequence[str]) -> dict[str, float]:
    """Per label, the threshold on ``THRESHOLD_GRID`` with the best F1 on dev (ties: nearest 0.5);
    a label with no positive on dev keeps 0.5."""
    thresholds = {}
    for column, label in enumerate(labels):
        truth = gold[:, column] > 0.5
        if not truth.any():
            continue
        best = max(THRESHOLD_GRID, key=lambda t: (_f1(truth, probabilities[:, column] >= t), -abs(t - 0.5)))
        thresholds[label] = float(best)
    return thresholds


def _f1(truth: np.ndarray, predicted: np.ndarray) -> float:
    true_positives = float((truth & predicted).sum())
    denominator = float(truth.sum() + predicted.sum())
    return 2 * true_positives / denominator if denominator else 0.0
