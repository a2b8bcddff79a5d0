"""Issue 11's "design to measure": encode each sentence once and let stance (per-target heads
over the sentence's token states, each with its target's query), frames and narratives all read
that one encoding, against today's one encoding per (sentence, target query) pair.

The shared model: the packaged MiniLM with LoRA (rank 16), as the pair model; each target has a
query vector (started from the frozen encoding of the target's query text) that attends over the
sentence's token states; the attended vector beside the mean-pooled sentence feeds the target's
stance and voice heads. It is trained by the project's ``Trainer`` with the pair recipe (LoRA 16,
learning rate 1e-3, 6 epochs, warm-up 10%, square-root class weights, voice weight 0.5, best epoch
by dev F_avg) on the default model's split without NewsMTSC (its rows name other targets), 8
sentences a step (= 32 pairs, as the pair model's batches). Compare with a pair model trained on the
same rows (``--pair-model``, e.g. ``stance train --data runs/split/train-* --dev-data
runs/split/dev-* --lora-rank 16 --learning-rate 1e-3 --epochs 6 --seed 42``).

Reported, every pair scored (no alias gate), torch fp32: dev F_avg on all and real articles as
``benchmarks.ablation`` computes it; sentences per second with all four targets (batches of 16
sorted by length); and frames and narratives read from the shared encoder's sentence vectors
(averaged per article; the shipped head recipe, nested 5-fold CV as in ``benchmarks.article_cv``).

    python -m benchmarks.shared_encoding --pair-model runs/pair-s42 [--epochs 6] [--seed 42] [--extra-data ROWS ...]
"""

from __future__ import annotations

import argparse
import datetime
import math
import os
import platform
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np
import torch
from stance.models import STANCE_LABELS, VOICE_LABELS, StanceModel, default_targets
from stance.models.backbone import Backbone
from stance.models.sentences import split_sentences
from stance.training.arguments import TrainingArguments
from stance.training.data import StanceExample, load_examples
from stance.training.evaluation import StanceEvaluator
from stance.training.tasks import IGNORED, StanceTask
from stance.training.trainer import Trainer
from torch import nn

from benchmarks.ablation import COLUMNS, HEADER, TARGETS, cells, row_from_probabilities
from benchmarks.article_cv import LABEL_FILES, gold_of, shipped_recipe_metrics
from benchmarks.common import default_split

BATCH = 16


@dataclass
class SentenceRow:
    """A labelled sentence with all its targets, and where its pairs sit in the dev rows."""

    text: str
    labels: dict[str, str] = field(default_factory=dict)
    voices: dict[str, str] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)


def sentence_rows(examples: Sequence[StanceExample]) -> list[SentenceRow]:
    grouped: dict[tuple, SentenceRow] = {}
    for i, ex in enumerate(examples):
        row = grouped.setdefault((ex.article_id, ex.sentence_id, ex.text), SentenceRow(ex.text))
        row.labels[ex.target], row.rows[ex.target] = ex.label, i
        if ex.voice:
            row.voices[ex.target] = ex.voice
    return list(grouped.values())


class SharedSentenceStance(nn.Module):
    """One encoding per sentence; each target reads the token states through its own query."""

    def __init__(self, backbone: Backbone, queries: torch.Tensor) -> None:
        super().__init__()
        self.backbone = backbone
        hidden, targets = backbone.hidden_size, len(queries)
        self.queries = nn.Parameter(queries.clone())
        self.dropout = nn.Dropout(0.1)
        self.stance_weight = nn.Parameter(torch.randn(targets, 2 * hidden, len(STANCE_LABELS)) * 0.02)
        self.stance_bias = nn.Parameter(torch.zeros(targets, len(STANCE_LABELS)))
        self.voice_weight = nn.Parameter(torch.randn(targets, 2 * hidden, len(VOICE_LABELS)) * 0.02)
        self.voice_bias = nn.Parameter(torch.zeros(targets, len(VOICE_LABELS)))
        self.settings = SimpleNamespace(model_name="shared-sentence", model_version="0")

    @classmethod
    def from_encoder(
        cls, query_texts: Sequence[str], *, encoder: str | None = None, lora_rank: int = 16, max_length: int = 128
    ) -> SharedSentenceStance:
        backbone = Backbone.from_encoder(encoder, lora_rank=lora_rank, max_length=max_length)
        with torch.inference_mode():
            queries = backbone(**backbone.tokenize(query_texts)).clone()
        return cls(backbone, queries)

    @property
    def tokenizer(self):
        return self.backbone.tokenizer

    def saves(self, key: str) -> bool:
        return not key.startswith("backbone.") or self.backbone.saves(key.removeprefix("backbone."))

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        states = self.backbone.encoder(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).last_hidden_state
        mask = attention_mask.unsqueeze(1).bool()  # (batch, 1, tokens)
        attention = (torch.einsum("bld,td->btl", states, self.queries) / math.sqrt(states.shape[-1])).masked_fill(~mask, -1e4).softmax(-1)
        attended = torch.einsum("btl,bld->btd", attention, states)
        weights = attention_mask.unsqueeze(-1).to(states.dtype)
        sentence = (states * weights).sum(1) / weights.sum(1).clamp(min=1.0)
        features = self.dropout(torch.cat([attended, sentence.unsqueeze(1).expand_as(attended)], -1))
        return {
            "stance": torch.einsum("btf,tfk->btk", features, self.stance_weight) + self.stance_bias,
            "voice": torch.einsum("btf,tfk->btk", features, self.voice_weight) + self.voice_bias,
            "sentence": sentence,
        }

    @torch.inference_mode()
    def outputs(self, texts: Sequence[str], *, batch_size: int = BATCH) -> dict[str, np.ndarray]:
        """Softmax stance and voice per (sentence, target), and the sentence vectors; batches sorted by length."""
        self.eval()
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        result: dict[str, np.ndarray] = {}
        for begin in range(0, len(order), batch_size):
            rows = order[begin : begin + batch_size]
            out = self(**self.backbone.tokenize([texts[i] for i in rows]))
            for name, values in out.items():
                values = values.softmax(-1) if name != "sentence" else values
                result.setdefault(name, np.zeros((len(texts), *values.shape[1:]), dtype=np.float32))[rows] = values.numpy()
        return result


class SharedSentenceTask(StanceTask):
    """Stance and voice for every target of a sentence at once; the stance task's weighting and metric."""

    name = "shared-sentence-stance"

    def __init__(self, targets: Sequence[str], dev_examples: Sequence[StanceExample]) -> None:
        super().__init__()
        self.targets = list(targets)
        self.dev_examples = list(dev_examples)
        self._stance_loss = nn.CrossEntropyLoss(ignore_index=IGNORED)

    def features(self, model: SharedSentenceStance, rows: Sequence[SentenceRow]) -> list[dict]:
        encoded = model.backbone.tokenize([row.text for row in rows], padding=False, return_tensors=None)
        return [
            {
                "inputs": {key: encoded[key][i] for key in encoded},
                "labels": {
                    "stance": [STANCE_LABELS.index(row.labels[t]) if t in row.labels else IGNORED for t in self.targets],
                    "voice": [VOICE_LABELS.index(row.voices[t]) if t in row.voices else IGNORED for t in self.targets],
                },
            }
            for i, row in enumerate(rows)
        ]

    def prepare(self, train_rows: Sequence[SentenceRow], device: torch.device) -> None:
        pairs = [SimpleNamespace(label=label) for row in train_rows for label in row.labels.values()]
        weights = self.class_weights(pairs)
        self._stance_loss = nn.CrossEntropyLoss(weight=None if weights is None else weights.to(device), ignore_index=IGNORED)

    def loss(self, outputs: dict[str, torch.Tensor], labels: dict[str, torch.Tensor]) -> torch.Tensor:
        flat = {name: outputs[name].flatten(0, 1) for name in ("stance", "voice")}
        return super().loss(flat, {name: labels[name].flatten() for name in ("stance", "voice")})

    def pair_probabilities(self, model: SharedSentenceStance, rows: Sequence[SentenceRow]) -> tuple[np.ndarray, np.ndarray]:
        """Stance and voice per dev pair, in the dev rows' order."""
        out = model.outputs([row.text for row in rows])
        stance = np.zeros((len(self.dev_examples), len(STANCE_LABELS)), dtype=np.float32)
        voice = np.zeros((len(self.dev_examples), len(VOICE_LABELS)), dtype=np.float32)
        for i, row in enumerate(rows):
            for target, index in row.rows.items():
                stance[index], voice[index] = out["stance"][i, self.targets.index(target)], out["voice"][i, self.targets.index(target)]
        return stance, voice

    def evaluate(self, model: SharedSentenceStance, rows: Sequence[SentenceRow], *, final: bool = False) -> dict:
        return StanceEvaluator(self.dev_examples).compute(*self.pair_probabilities(model, rows))

    def calibrate(self, model: SharedSentenceStance, rows: Sequence[SentenceRow]) -> None:
        """Nothing to calibrate for an argmax comparison."""


def merged(model: SharedSentenceStance) -> SharedSentenceStance:
    model.backbone.encoder = model.backbone.encoder.merge_and_unload()
    return model.eval()


def sentences_per_second(score, sentences: Sequence[str], *, rounds: int = 3) -> float:
    """The best of ``rounds`` timings of scoring every sentence for all four targets."""
    best = math.inf
    for _ in range(rounds):
        started = time.perf_counter()
        score(sentences)
        best = min(best, time.perf_counter() - started)
    return len(sentences) / best


def framing_from_sentences(model: SharedSentenceStance) -> dict[str, dict]:
    """Frames and narratives from the shared encoder's sentence vectors, averaged per article (nested CV)."""
    results = {}
    for task in LABEL_FILES:
        _, examples, _, _ = gold_of(task)
        sentences = [[s.text for s in split_sentences(ex.text)] or [ex.text] for ex in examples]
        vectors = model.outputs([s for article in sentences for s in article])["sentence"]
        ends = np.cumsum([len(article) for article in sentences])
        article_vectors = np.stack([vectors[end - len(article) : end].mean(0) for end, article in zip(ends, sentences, strict=True)])
        results[task] = shipped_recipe_metrics(article_vectors, task)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pair-model", action="append", default=[], help="pair model folders trained on the same rows (repeatable)")
    parser.add_argument("--encoder", help="pretrained encoder (package or folder; default: the packaged MiniLM)")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--no-framing", action="store_true", help="skip the frames and narratives cross-validation")
    parser.add_argument("--extra-data", nargs="+", default=[], help="more labelled rows for training only (e.g. seeds/labels/semeval2023-train.jsonl)")
    args = parser.parse_args()
    torch.set_num_threads(max(1, len(os.sched_getaffinity(0))))
    targets = default_targets()
    names = [name for name in targets if name in TARGETS]
    train, dev = default_split()
    train = train + (load_examples(args.extra_data, targets=targets) if args.extra_data else [])
    train_rows, dev_rows = sentence_rows(train), sentence_rows(dev)
    task = SharedSentenceTask(names, dev)
    torch.manual_seed(args.seed)
    queries = [targets[name].query for name in names]
    model = SharedSentenceStance.from_encoder(queries, encoder=args.encoder)
    training = TrainingArguments(epochs=args.epochs, batch_size=8, learning_rate=1e-3, seed=args.seed, model_name="shared-sentence")
    started = time.perf_counter()
    result = Trainer(training, train_rows, dev_rows, task=task, model=model, progress=False).train()
    train_seconds = time.perf_counter() - started
    model = merged(result.model)

    rows = {
        f"shared sentence encoding (seed {args.seed}, best epoch {result.best_epoch})": row_from_probabilities(
            dev, *task.pair_probabilities(model, dev_rows)
        )
    }
    sentences = sorted({row.text for row in dev_rows})
    speed = {next(iter(rows)): sentences_per_second(lambda texts: model.outputs(texts), sentences)}
    for folder in args.pair_model:
        pair = StanceModel.from_pretrained(folder)
        rows[f"pair encoder ({folder})"] = row_from_probabilities(dev, *StanceEvaluator(dev, gate=False).predict(pair))
        speed[f"pair encoder ({folder})"] = sentences_per_second(
            lambda texts, pair=pair: pair.score_pairs([t for t in texts for _ in queries], queries * len(texts), batch_size=BATCH),
            sentences,
        )
    print(f"{datetime.date.today()} · {platform.processor() or platform.machine()} · {len(os.sched_getaffinity(0))} cores · "
          f"{len(train_rows)} train sentences ({len(train)} pairs), {len(dev_rows)} dev sentences ({len(dev)} pairs); "
          f"shared model trained in {train_seconds / 60:.1f} min\n")  # fmt: skip
    print(f"| design | {HEADER} | sentences/s, 4 targets (fp32) |")
    print("| --- " * (2 + len(COLUMNS)) + "|")
    for name, row in rows.items():
        print(f"| {name} | {cells(row)} | {speed[name]:.1f} |")
    print("\nhistory: " + "; ".join(f"epoch {h['epoch']}: {h['dev_f_avg']:.3f}" for h in result.history))
    if not args.no_framing:
        print("\n| task, from the shared encoder's sentence vectors | micro-F1 | macro-F1 | samples-F1 |\n| --- | --- | --- | --- |")
        for task_name, metrics in framing_from_sentences(model).items():
            print(f"| {task_name} | {metrics['micro_f1']:.3f} | {metrics['macro_f1']:.3f} | {metrics['samples_f1']:.3f} |")


if __name__ == "__main__":
    main()
