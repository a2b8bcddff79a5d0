"""Fine-tuning a stance model: length-grouped batches, dev evaluation each epoch, the best
epoch kept, temperature scaling on dev, and an atomic save with a model card."""

from __future__ import annotations

import json
import math
import random
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from stance.models import STANCE_LABELS, VOICE_LABELS, StanceModel, TargetSet, default_targets
from stance.training.arguments import TrainingArguments
from stance.training.card import model_card
from stance.training.data import StanceExample
from stance.training.evaluation import StanceEvaluator, gated
from torch import nn
from tqdm.auto import tqdm
from transformers import get_linear_schedule_with_warmup

BATCHES_PER_LENGTH_GROUP = 50


@dataclass
class TrainResult:
    model: StanceModel
    history: list[dict] = field(default_factory=list)
    best_epoch: int | None = None
    dev_metrics: dict | None = None
    seconds: float = 0.0


class Trainer:
    def __init__(
        self,
        args: TrainingArguments,
        train_examples: Sequence[StanceExample],
        dev_examples: Sequence[StanceExample] | None = None,
        *,
        targets: TargetSet | None = None,
        model: StanceModel | None = None,
        progress: bool = True,
    ) -> None:
        if not train_examples:
            raise ValueError("no training examples")
        self.args = args
        self.train_examples = list(train_examples)
        self.dev_examples = list(dev_examples or [])
        self.model = model or StanceModel.from_encoder(
            args.encoder,
            targets=targets or default_targets(),
            lora_rank=args.lora_rank or None,
            max_length=args.max_length,
            seed=args.seed,
        )
        self.model.settings.model_name = args.model_name
        self.model.settings.model_version = args.model_version
        self.progress = progress
        self.device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else ("cpu" if args.device == "auto" else args.device))

    # ---- data ---------------------------------------------------------------------

    def _features(self, examples: Sequence[StanceExample]) -> list[dict]:
        queries = [ex.query or self.model.targets[ex.target].query for ex in examples]
        encoded = self.model.encode_pairs([ex.text for ex in examples], queries, padding=False, return_tensors=None)
        features = []
        for i, ex in enumerate(examples):
            feature = {key: encoded[key][i] for key in encoded}
            feature["stance_label"] = STANCE_LABELS.index(ex.label)
            feature["voice_label"] = VOICE_LABELS.index(ex.voice) if ex.voice else -100
            features.append(feature)
        return features

    def _batches(self, features: list[dict], rng: random.Random) -> list[list[dict]]:
        """Shuffled batches of similar length, so padding stays short (dynamic padding)."""
        order = list(range(len(features)))
        rng.shuffle(order)
        size = self.args.batch_size
        group = size * BATCHES_PER_LENGTH_GROUP
        batches = []
        for begin in range(0, len(order), group):
            chunk = sorted(order[begin : begin + group], key=lambda i: len(features[i]["input_ids"]))
            batches.extend([features[i] for i in chunk[b : b + size]] for b in range(0, len(chunk), size))
        rng.shuffle(batches)
        return batches

    def _collate(self, batch: list[dict]) -> tuple[dict, torch.Tensor, torch.Tensor]:
        inputs = [{k: v for k, v in f.items() if k not in ("stance_label", "voice_label")} for f in batch]
        padded = self.model.tokenizer.pad(inputs, return_tensors="pt")
        stance = torch.tensor([f["stance_label"] for f in batch])
        voice = torch.tensor([f["voice_label"] for f in batch])
        return {k: v.to(self.device) for k, v in padded.items()}, stance.to(self.device), voice.to(self.device)

    def _class_weights(self) -> torch.Tensor | None:
        if self.args.class_weighting == "none":
            return None
        counts = Counter(ex.label for ex in self.train_examples)
        weights = torch.tensor([1.0 / math.sqrt(max(counts[label], 1)) for label in STANCE_LABELS])
        return (weights / weights.mean()).to(self.device)

    # ---- training -----------------------------------------------------------------

    def train(self) -> TrainResult:
        args = self.args
        started = time.perf_counter()
        rng = random.Random(args.seed)
        torch.manual_seed(args.seed)
        model = self.model.to(self.device)
        features = self._features(self.train_examples)
        parameters = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(parameters, lr=args.effective_learning_rate, weight_decay=args.weight_decay)
        steps_per_epoch = math.ceil(len(features) / args.batch_size)
        total_steps = steps_per_epoch * args.epochs
        scheduler = get_linear_schedule_with_warmup(optimizer, int(args.warmup_ratio * total_steps), total_steps)
        stance_loss = nn.CrossEntropyLoss(weight=self._class_weights())
        voice_loss = nn.CrossEntropyLoss(ignore_index=-100)
        evaluator = StanceEvaluator(self.dev_examples, gate=False) if self.dev_examples else None
        result = TrainResult(model=model)
        best_score, best_state = -1.0, None

        for epoch in range(1, args.epochs + 1):
            model.train()
            running, seen = 0.0, 0
            bar = tqdm(self._batches(features, rng), desc=f"epoch {epoch}/{args.epochs}", disable=not self.progress, unit="batch")
            for batch in bar:
                inputs, stance_gold, voice_gold = self._collate(batch)
                stance_logits, voice_logits = model(**inputs)
                loss = stance_loss(stance_logits, stance_gold)
                if (voice_gold >= 0).any():
                    loss = loss + args.voice_weight * voice_loss(voice_logits, voice_gold)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(parameters, 1.0)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                running += loss.item() * len(batch)
                seen += len(batch)
                bar.set_postfix(loss=f"{running / seen:.4f}")
            entry = {"epoch": epoch, "train_loss": running / max(seen, 1)}
            if evaluator is not None:
                metrics = evaluator(model)
                entry.update(dev_f_avg=metrics["overall"]["f_avg"], dev_macro_f1=metrics["overall"]["macro_f1"])
                if metrics["overall"]["f_avg"] > best_score:
                    best_score, result.best_epoch = metrics["overall"]["f_avg"], epoch
                    best_state = {k: v.detach().clone() for k, v in model.state_dict().items() if _trainable(model, k)}
            result.history.append(entry)
            if self.progress:
                tqdm.write(json.dumps(entry))

        if best_state is not None:
            model.load_state_dict(best_state, strict=False)
        if evaluator is not None:
            self._calibrate(evaluator)
            result.dev_metrics = StanceEvaluator(self.dev_examples)(model)
        model.to("cpu").eval()
        result.seconds = time.perf_counter() - started
        return result

    def _calibrate(self, evaluator: StanceEvaluator) -> None:
        """Temperature scaling of both heads on dev, and the label prior of gated pairs."""
        model = self.model
        texts = [ex.text for ex in evaluator.examples]
        queries = [ex.query or model.targets[ex.target].query for ex in evaluator.examples]
        stance_logits, voice_logits = _logits(model, texts, queries)
        stance_gold = torch.tensor([STANCE_LABELS.index(ex.label) for ex in evaluator.examples])
        model.settings.stance_temperature = _fit_temperature(stance_logits, stance_gold)
        voiced = [i for i, ex in enumerate(evaluator.examples) if ex.voice]
        if voiced:
            voice_gold = torch.tensor([VOICE_LABELS.index(evaluator.examples[i].voice) for i in voiced])
            model.settings.voice_temperature = _fit_temperature(voice_logits[voiced], voice_gold)
        skipped = Counter(ex.label for ex, skip in zip(evaluator.examples, gated(evaluator.examples, model), strict=True) if skip)
        if skipped:
            total = sum(skipped.values()) + len(STANCE_LABELS)
            model.settings.gate_prior = {label: (skipped[label] + 1) / total for label in STANCE_LABELS}

    def save(self, result: TrainResult, output_dir: str | Path, *, data_counts: dict | None = None) -> Path:
        config = {
            "training": self.args.to_dict(),
            "history": result.history,
            "best_epoch": result.best_epoch,
            "data": data_counts or {},
            "dev_metrics": _headline_metrics(result.dev_metrics) if result.dev_metrics else None,
        }
        card = model_card(result, self.args, data_counts or {})
        return result.model.save_pretrained(
            output_dir, model_card=card, extra_files={"training_config.json": json.dumps(config, indent=2) + "\n"}
        )


def _headline_metrics(metrics: dict) -> dict:
    """The dev numbers worth showing in ``/v1/info`` and model cards, without the bulky reports."""
    keep = ("f_avg", "macro_f1", "accuracy", "ece")
    return {
        "overall": {k: metrics["overall"][k] for k in keep},
        "targets": {name: {k: m[k] for k in keep} for name, m in metrics["targets"].items()},
        "voice_accuracy": metrics["voice"].get("accuracy"),
    }


def _trainable(model: nn.Module, key: str) -> bool:
    if model.settings.lora:
        return not key.startswith("encoder.") or "lora_" in key
    return True


def _logits(model: StanceModel, texts: list[str], queries: list[str], batch_size: int = 128) -> tuple[torch.Tensor, torch.Tensor]:
    device = next(model.parameters()).device
    model.eval()
    stance, voice = [], []
    with torch.inference_mode():
        for begin in range(0, len(texts), batch_size):
            batch = model.encode_pairs(texts[begin : begin + batch_size], queries[begin : begin + batch_size])
            s, v = model(**{k: t.to(device) for k, t in batch.items()})
            stance.append(s.float().cpu())
            voice.append(v.float().cpu())
    return torch.cat(stance), torch.cat(voice)


def _fit_temperature(logits: torch.Tensor, gold: torch.Tensor) -> float:
    """The temperature that minimises dev negative log-likelihood (Guo et al., 2017)."""
    log_t = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.LBFGS([log_t], lr=0.1, max_iter=100, line_search_fn="strong_wolfe")
    loss_fn = nn.CrossEntropyLoss()

    def closure():
        optimizer.zero_grad()
        loss = loss_fn(logits / log_t.exp(), gold)
        loss.backward()
        return loss

    optimizer.step(closure)
    temperature = log_t.exp().item()
    return float(np.clip(temperature, 0.05, 20.0)) if math.isfinite(temperature) else 1.0
