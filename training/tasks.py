"""What the trainer needs to know about a task: the model it starts from, the labels of each
example per head, the loss, the dev metric that picks the best epoch, and the calibration
fitted on dev afterwards. The trainer itself knows none of these."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Protocol

import numpy as np
import torch
from stance.models import STANCE_LABELS, VOICE_LABELS, StanceModel, TargetSet, default_targets
from stance.models.sentence_reader import SentenceStanceModel
from stance.training.arguments import TrainingArguments
from stance.training.card import model_card
from stance.training.data import StanceExample
from stance.training.evaluation import StanceEvaluator, gated
from torch import nn

IGNORED = -100  # a head's label for an example that has none (e.g. no voice given)


class TrainingTask(Protocol):
    """A task the ``Trainer`` can train; ``StanceTask`` is the reference."""

    name: str
    primary_metric: str

    def new_model(self, args: TrainingArguments, targets: TargetSet | None) -> nn.Module: ...

    def features(self, model: nn.Module, examples: Sequence) -> list[dict]:
        """Per example ``{"inputs": tokenizer fields, "labels": {head: label}}``."""
        ...

    def prepare(self, train_examples: Sequence, device: torch.device) -> None:
        """Fit what the loss needs from the training examples (e.g. class weights)."""
        ...

    def loss(self, outputs: dict[str, torch.Tensor], labels: dict[str, torch.Tensor]) -> torch.Tensor: ...

    def evaluate(self, model: nn.Module, examples: Sequence, *, final: bool = False) -> dict:
        """Dev metrics; ``final``: after calibration, the way the model is used."""
        ...

    def epoch_summary(self, metrics: dict) -> dict[str, float]:
        """What the history records per epoch; its ``"dev_" + primary_metric`` picks the best epoch."""
        ...

    def calibrate(self, model: nn.Module, examples: Sequence) -> None: ...

    def headline_metrics(self, metrics: dict) -> dict: ...

    def model_card(self, result, args: TrainingArguments, data_counts: dict) -> str: ...


class StanceTask:
    """Stance toward a target, and the voice of the sentence, from (sentence, query) pairs."""

    name = "stance"
    primary_metric = "f_avg"

    def __init__(self, *, voice_weight: float = 0.5, class_weighting: str = "sqrt", gated_dev: bool = False) -> None:
        self.voice_weight = voice_weight
        self.class_weighting = class_weighting
        self.gated_dev = gated_dev
        self._stance_loss: nn.Module = nn.CrossEntropyLoss()
        self._voice_loss = nn.CrossEntropyLoss(ignore_index=IGNORED)

    @classmethod
    def from_arguments(cls, args: TrainingArguments, **task_options) -> StanceTask:
        """The task for ``args`` (the sentence task for ``reader="sentence"``); ``task_options`` go to a subclass."""
        task_class = SentenceStanceTask if cls is StanceTask and args.reader == "sentence" else cls
        # A model trained on a sample of the pairs the gate skips is only right behind its gate.
        return task_class(voice_weight=args.voice_weight, class_weighting=args.class_weighting, gated_dev=args.gate_sample < 1, **task_options)

    def new_model(self, args: TrainingArguments, targets: TargetSet | None) -> StanceModel:
        return StanceModel.from_encoder(
            args.encoder, targets=targets or default_targets(), lora_rank=args.lora_rank or None, max_length=args.max_length, seed=args.seed
        )

    # ---- training -----------------------------------------------------------------

    def features(self, model: StanceModel, examples: Sequence[StanceExample]) -> list[dict]:
        queries = [ex.query_in(model.targets) for ex in examples]
        encoded = model.encode_pairs([ex.text for ex in examples], queries, padding=False, return_tensors=None)
        return [
            {
                "inputs": {key: encoded[key][i] for key in encoded},
                "labels": {"stance": STANCE_LABELS.index(ex.label), "voice": VOICE_LABELS.index(ex.voice) if ex.voice else IGNORED},
            }
            for i, ex in enumerate(examples)
        ]

    def prepare(self, train_examples: Sequence[StanceExample], device: torch.device) -> None:
        """Set the stance loss's class weights from the training labels."""
        weights = self.class_weights(train_examples)
        self._stance_loss = nn.CrossEntropyLoss(weight=None if weights is None else weights.to(device), ignore_index=IGNORED)

    def class_weights(self, examples: Sequence[StanceExample]) -> torch.Tensor | None:
        """Inverse square-root label frequencies, mean 1 (``class_weighting="sqrt"``)."""
        if self.class_weighting == "none":
            return None
        counts = Counter(ex.label for ex in examples)
        weights = torch.tensor([1.0 / math.sqrt(max(counts[label], 1)) for label in STANCE_LABELS])
        return weights / weights.mean()

    def loss(self, outputs: dict[str, torch.Tensor], labels: dict[str, torch.Tensor]) -> torch.Tensor:
        loss = self._stance_loss(outputs["stance"], labels["stance"])
        if (labels["voice"] != IGNORED).any():
            loss = loss + self.voice_weight * self._voice_loss(outputs["voice"], labels["voice"])
        return loss

    # ---- dev ----------------------------------------------------------------------

    def evaluate(self, model: StanceModel, examples: Sequence[StanceExample], *, final: bool = False) -> dict:
        """Every pair scored while picking the epoch (unless ``gated_dev``); with the alias gate, as ``analyze``, at the end."""
        return StanceEvaluator(examples, gate=None if final or self.gated_dev else False)(model)

    def epoch_summary(self, metrics: dict) -> dict[str, float]:
        return {"dev_f_avg": metrics["overall"]["f_avg"], "dev_macro_f1": metrics["overall"]["macro_f1"]}

    def calibrate(self, model: StanceModel, examples: Sequence[StanceExample]) -> None:
        """Temperature scaling of both heads on dev (on the pairs the gate scores, with ``gated_dev``), and the label prior of gated pairs."""
        skips = gated(examples, model)
        skipped = Counter(ex.label for ex, skip in zip(examples, skips, strict=True) if skip)
        if self.gated_dev:
            examples = [ex for ex, skip in zip(examples, skips, strict=True) if not skip]
        queries = [ex.query_in(model.targets) for ex in examples]
        logits = {name: torch.from_numpy(values) for name, values in model.batched_logits([ex.text for ex in examples], queries).items()}
        stance_gold = torch.tensor([STANCE_LABELS.index(ex.label) for ex in examples])
        model.head_specs["stance"].temperature = fit_temperature(logits["stance"], stance_gold)
        voiced = [i for i, ex in enumerate(examples) if ex.voice]
        if voiced:
            voice_gold = torch.tensor([VOICE_LABELS.index(examples[i].voice) for i in voiced])
            model.head_specs["voice"].temperature = fit_temperature(logits["voice"][voiced], voice_gold)
        if skipped:
            total = sum(skipped.values()) + len(STANCE_LABELS)
            model.settings.gate_prior = {label: (skipped[label] + 1) / total for label in STANCE_LABELS}

    def model_card(self, result, args: TrainingArguments, data_counts: dict) -> str:
        return model_card(result, args, data_counts)

    def headline_metrics(self, metrics: dict) -> dict:
        """The dev numbers worth showing in ``/v1/info`` and model cards, without the bulky reports."""
        keep = ("f_avg", "macro_f1", "accuracy", "ece")
        return {
            "overall": {k: metrics["overall"][k] for k in keep},
            "targets": {name: {k: m[k] for k in keep} for name, m in metrics["targets"].items()},
            "voice_accuracy": metrics["voice"].get("accuracy"),
        }


class SentenceStanceTask(StanceTask):
    """Stance and voice toward every target of a sentence from one encoding
    (``SentenceStanceModel``): the pairs of a sentence are one training item, a target without a
    label is left out of the loss; dev, calibration and the gate prior as for pairs."""

    def new_model(self, args: TrainingArguments, targets: TargetSet | None) -> SentenceStanceModel:
        return SentenceStanceModel.from_encoder(
            args.encoder, targets=targets or default_targets(), lora_rank=args.lora_rank or None, max_length=args.max_length, seed=args.seed
        )

    def features(self, model: SentenceStanceModel, examples: Sequence[StanceExample]) -> list[dict]:
        return self.encode(model, self.sentence_labels(model, examples))

    def sentence_labels(self, model: SentenceStanceModel, examples: Sequence[StanceExample]) -> dict[str, dict[str, list[int]]]:
        """Per distinct sentence, a stance and a voice label per target of the model (``IGNORED`` where none is given)."""
        foreign = sorted({f"{ex.target} ({ex.origin})" if ex.origin else ex.target for ex in examples if ex.query or ex.target not in model.targets})
        if foreign:
            raise ValueError(
                f"{len(foreign)} rows name a target or query the sentence reader does not learn, e.g. {foreign[0]}: "
                f"it learns its own targets ({', '.join(model.targets)}); use the pair reader for such rows"
            )
        names = list(model.targets)
        sentences: dict[str, dict[str, list[int]]] = {}
        for ex in examples:
            labels = sentences.setdefault(ex.text, {"stance": [IGNORED] * len(names), "voice": [IGNORED] * len(names)})
            labels["stance"][names.index(ex.target)] = STANCE_LABELS.index(ex.label)
            labels["voice"][names.index(ex.target)] = VOICE_LABELS.index(ex.voice) if ex.voice else IGNORED
        return sentences

    @staticmethod
    def encode(model: SentenceStanceModel, labels: dict[str, dict[str, list]]) -> list[dict]:
        """Training items: each sentence tokenised alone, with its labels per head."""
        encoded = model.backbone.tokenize(list(labels), padding=False, return_tensors=None)
        return [{"inputs": {key: encoded[key][i] for key in encoded}, "labels": row} for i, row in enumerate(labels.values())]

    def loss(self, outputs: dict[str, torch.Tensor], labels: dict[str, torch.Tensor]) -> torch.Tensor:
        """The pair loss over every labelled (sentence, target) of the batch."""
        return super().loss({name: outputs[name].flatten(0, 1) for name in labels}, {name: values.flatten() for name, values in labels.items()})


def fit_temperature(logits: torch.Tensor, gold: torch.Tensor, *, multi_label: bool = False) -> float:
    """The temperature that minimises dev negative log-likelihood (Guo et al., 2017); for a
    sigmoid head, ``gold`` is multi-hot and the likelihood binary per label."""
    log_t = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.LBFGS([log_t], lr=0.1, max_iter=100, line_search_fn="strong_wolfe")
    loss_fn = nn.BCEWithLogitsLoss() if multi_label else nn.CrossEntropyLoss()

    def closure():
        optimizer.zero_grad()
        loss = loss_fn(logits / log_t.exp(), gold)
        loss.backward()
        return loss

    optimizer.step(closure)
    temperature = log_t.exp().item()
    return float(np.clip(temperature, 0.05, 20.0)) if math.isfinite(temperature) else 1.0
