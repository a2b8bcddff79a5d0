"""Fine-tuning a model for a task: length-grouped batches, dev evaluation each epoch, the best
epoch kept, calibration on dev, and an atomic save with a model card. What is specific to a
task (labels, losses, metric, calibration) comes from a ``TrainingTask``.

A run with a ``checkpoint`` file writes its state there after every epoch, so a run cut short
(a laptop asleep, a session ended) goes on from its last finished epoch with ``train(resume=True)``
and ends with the same weights as one that was never cut."""

from __future__ import annotations

import hashlib
import json
import math
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import torch
from stance.models import TargetSet
from stance.models.atomic import atomic_file
from stance.models.smoothing import SMOOTHING_SENTENCES
from stance.training.arguments import TrainingArguments
from stance.training.tasks import StanceTask, TrainingTask
from torch import nn
from tqdm.auto import tqdm
from transformers import get_linear_schedule_with_warmup

BATCHES_PER_LENGTH_GROUP = 50
# settings that may change between a run and its resumption: where it runs and what the saved model is called
RESUMABLE_CHANGES = ("device", "model_name", "model_version")


@dataclass
class TrainResult:
    model: nn.Module
    history: list[dict] = field(default_factory=list)
    best_epoch: int | None = None
    dev_metrics: dict | None = None
    seconds: float = 0.0

    def summary(self) -> str:
        """The card's line on which epoch was kept and how long training took."""
        kept = f"Best epoch: {self.best_epoch}." if self.best_epoch else f"Kept the last epoch ({len(self.history)})."
        return f"{kept} Training took {self.seconds / 60:.1f} minutes."


def _trained_weights(model: nn.Module) -> dict[str, torch.Tensor]:
    """A copy of the weights training changes (what ``save_pretrained`` writes)."""
    return {k: v.detach().clone() for k, v in model.state_dict().items() if model.saves(k)}


def smoothing_sentences(examples: Sequence, *, seed: int) -> list[str]:
    """The training sentences on which a model with an all-int8 export measures its FFN inputs:
    ``SMOOTHING_SENTENCES`` of them, drawn with the training seed."""
    sentences = sorted({example.text for example in examples})
    random.Random(seed).shuffle(sentences)
    return sentences[:SMOOTHING_SENTENCES]


class Trainer:
    def __init__(
        self,
        args: TrainingArguments,
        train_examples: Sequence,
        dev_examples: Sequence | None = None,
        *,
        task: TrainingTask | None = None,
        targets: TargetSet | None = None,
        model: nn.Module | None = None,
        progress: bool = True,
        checkpoint: str | Path | None = None,
    ) -> None:
        if not train_examples:
            raise ValueError("no training examples")
        self.args = args
        self.task = task or StanceTask.from_arguments(args)
        self.train_examples = list(train_examples)
        self.dev_examples = list(dev_examples or [])
        self.model = model or self.task.new_model(args, targets)
        self.model.settings.model_name = args.model_name
        self.model.settings.model_version = args.model_version
        if args.int8_ffn_output is not None:
            self.model.settings.int8_ffn_output = args.int8_ffn_output
        self.progress = progress
        self.checkpoint = Path(checkpoint) if checkpoint is not None else None
        self.device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else ("cpu" if args.device == "auto" else args.device))

    # ---- data ---------------------------------------------------------------------

    def _batches(self, features: list[dict], rng: random.Random) -> list[list[dict]]:
        """Shuffled batches of similar length, so padding stays short (dynamic padding)."""
        order = list(range(len(features)))
        rng.shuffle(order)
        size = self.args.batch_size
        group = size * BATCHES_PER_LENGTH_GROUP
        batches = []
        for begin in range(0, len(order), group):
            chunk = sorted(order[begin : begin + group], key=lambda i: len(features[i]["inputs"]["input_ids"]))
            batches.extend([features[i] for i in chunk[b : b + size]] for b in range(0, len(chunk), size))
        rng.shuffle(batches)
        return batches

    def _collate(self, batch: list[dict]) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        padded = self.model.tokenizer.pad([f["inputs"] for f in batch], return_tensors="pt")
        labels = {name: torch.tensor([f["labels"][name] for f in batch]) for name in batch[0]["labels"]}
        return {k: v.to(self.device) for k, v in padded.items()}, {k: v.to(self.device) for k, v in labels.items()}

    # ---- checkpoints ----------------------------------------------------------------

    @cached_property
    def _run_fingerprint(self) -> str:
        """What a checkpoint must have been written by: these settings, these training and dev rows."""
        settings = {k: v for k, v in self.args.to_dict().items() if k not in RESUMABLE_CHANGES}
        digest = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode())
        for part in (self.train_examples, self.dev_examples):
            digest.update(b"\0".join(repr(example).encode() for example in part) + b"\1")
        return digest.hexdigest()

    def _write_checkpoint(self, state: dict) -> None:
        with atomic_file(self.checkpoint, "wb") as handle:
            torch.save({"fingerprint": self._run_fingerprint, "settings": self.args.to_dict(), **state}, handle)

    def _read_checkpoint(self) -> dict | None:
        if self.checkpoint is None or not self.checkpoint.is_file():
            return None
        state = torch.load(self.checkpoint, map_location=self.device, weights_only=True)
        if state["fingerprint"] != self._run_fingerprint:
            now = self.args.to_dict()
            changed = sorted(k for k in now if k not in RESUMABLE_CHANGES and state["settings"].get(k) != now[k])
            what = f"settings differ: {', '.join(changed)}" if changed else "the training or dev rows differ"
            raise ValueError(f"{self.checkpoint} was written by another run ({what}): remove it to start over")
        return state

    # ---- training -----------------------------------------------------------------

    def train(self, *, resume: bool = False) -> TrainResult:
        """Train; ``resume``: go on from the checkpoint's last finished epoch, if there is one."""
        args, task = self.args, self.task
        started = time.perf_counter()
        rng = random.Random(args.seed)
        torch.manual_seed(args.seed)
        model = self.model.to(self.device)
        features = task.features(model, self.train_examples)
        task.prepare(self.train_examples, self.device)
        parameters = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(parameters, lr=args.effective_learning_rate, weight_decay=args.weight_decay)
        steps_per_epoch = math.ceil(len(features) / args.batch_size)
        total_steps = steps_per_epoch * args.epochs
        scheduler = get_linear_schedule_with_warmup(optimizer, int(args.warmup_ratio * total_steps), total_steps)
        selection_key = f"dev_{task.primary_metric}"
        result = TrainResult(model=model)
        best_score, best_state = -math.inf, None
        saved = self._read_checkpoint() if resume else None
        if saved is not None:
            model.load_state_dict(saved["weights"], strict=False)
            optimizer.load_state_dict(saved["optimizer"])
            scheduler.load_state_dict(saved["scheduler"])
            rng.setstate(saved["batch_order"])
            torch.set_rng_state(saved["torch_rng"].cpu())
            if "cuda_rng" in saved and self.device.type == "cuda":
                torch.cuda.set_rng_state_all([state.cpu() for state in saved["cuda_rng"]])
            result.history, result.best_epoch = saved["history"], saved["best_epoch"]
            best_score, best_state = saved["best_score"], saved["best_weights"]
            started -= saved["seconds"]  # the card's training time counts the epochs before the cut
            if self.progress:
                tqdm.write(f"resuming after epoch {len(result.history)} of {args.epochs} ({self.checkpoint})")

        for epoch in range(len(result.history) + 1, args.epochs + 1):
            model.train()
            running, seen = 0.0, 0
            bar = tqdm(self._batches(features, rng), desc=f"epoch {epoch}/{args.epochs}", disable=not self.progress, unit="batch")
            for batch in bar:
                inputs, labels = self._collate(batch)
                loss = task.loss(model(**inputs), labels)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(parameters, 1.0)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                running += loss.item() * len(batch)
                seen += len(batch)
                bar.set_postfix(loss=f"{running / seen:.4f}")
            entry = {"epoch": epoch, "train_loss": running / max(seen, 1)}
            if self.dev_examples:
                entry.update(task.epoch_summary(task.evaluate(model, self.dev_examples)))
                if entry[selection_key] > best_score and not args.last_epoch:
                    best_score, result.best_epoch = entry[selection_key], epoch
                    best_state = _trained_weights(model)
            result.history.append(entry)
            if self.progress:
                tqdm.write(json.dumps(entry))
            if self.checkpoint is not None:
                self._write_checkpoint({
                    "weights": _trained_weights(model),
                    "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                    "batch_order": rng.getstate(), "torch_rng": torch.get_rng_state(),
                    **({"cuda_rng": torch.cuda.get_rng_state_all()} if self.device.type == "cuda" else {}),
                    # plain floats: a checkpoint is read back with torch.load(weights_only=True)
                    "history": json.loads(json.dumps(result.history)), "best_epoch": result.best_epoch,
                    "best_score": float(best_score), "best_weights": best_state, "seconds": time.perf_counter() - started,
                })  # fmt: skip

        if best_state is not None:
            model.load_state_dict(best_state, strict=False)
        if self.dev_examples:
            task.calibrate(model, self.dev_examples)
            result.dev_metrics = task.evaluate(model, self.dev_examples, final=True)
        if getattr(model.settings, "int8_ffn_output", False):
            model.measure_ffn_inputs(smoothing_sentences(self.train_examples, seed=args.seed))
        model.to("cpu").eval()
        result.seconds = time.perf_counter() - started
        return result

    def save(self, result: TrainResult, output_dir: str | Path, *, data_counts: dict | None = None) -> Path:
        config = {
            "task": self.task.name,
            "training": self.args.to_dict(),
            "history": result.history,
            "best_epoch": result.best_epoch,
            "data": data_counts or {},
            "dev_metrics": self.task.headline_metrics(result.dev_metrics) if result.dev_metrics else None,
        }
        card = self.task.model_card(result, self.args, data_counts or {})
        directory = result.model.save_pretrained(
            output_dir, model_card=card, extra_files={"training_config.json": json.dumps(config, indent=2) + "\n"}
        )
        if self.checkpoint is not None:
            self.checkpoint.unlink(missing_ok=True)  # the run is complete: nothing to resume
        return directory
