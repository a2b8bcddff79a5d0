"""Issue 10, section 3: annotators read each sentence with its neighbours; does the model gain from
reading the previous sentence too?

Each pair's second segment becomes "<target query> | before: <the previous sentence of the
article, its last 30 words>" (the sentence itself stays the first segment, cut first when the pair
is too long), in training and on dev alike. The run goes on training the shipped MiniLM pair model (the default until 1.2.0) with the
recipe of the guide-v2 rows of the ablation (2 epochs, learning rate 2e-4, the dev
split), so its baseline is that recipe without context (e.g. ``runs/e2a-s42``, trained by
``stance train --init-model models/minilm ... --epochs 2 --learning-rate 2e-4 --seed 42``).
Every pair scored (no alias gate), torch fp32, for both.

    python -m benchmarks.context_input --baseline runs/e2a-s42 [--seed 42]
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import os
import platform
import time
from collections.abc import Sequence

import torch
from stance.models import StanceModel, TargetSet
from stance.models.config import SHIPPED_MODELS
from stance.training.arguments import TrainingArguments
from stance.training.data import StanceExample
from stance.training.evaluation import StanceEvaluator
from stance.training.trainer import Trainer

from benchmarks.ablation import COLUMNS, HEADER, cells, row_from_probabilities
from benchmarks.common import default_split

CONTEXT_WORDS = 30
PAIR_MODEL = SHIPPED_MODELS["minilm"]  # the query segment carries the context: a pair reader


def with_previous_sentence(examples: Sequence[StanceExample], targets: TargetSet, *, words: int = CONTEXT_WORDS) -> list[StanceExample]:
    """The examples with the previous sentence of their article read beside the query."""
    sentences = {(ex.article_id, ex.sentence_id): ex.text for ex in examples if ex.article_id and ex.sentence_id is not None}
    result = []
    for ex in examples:
        previous = sentences.get((ex.article_id, ex.sentence_id - 1)) if ex.article_id and ex.sentence_id else None
        query = ex.query_in(targets)
        result.append(dataclasses.replace(ex, query=f"{query} | before: {' '.join(previous.split()[-words:])}" if previous else query))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", action="append", default=[], help="model folders trained by the same recipe without context (repeatable)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(max(1, len(os.sched_getaffinity(0))))
    train, dev = default_split()
    model = StanceModel.from_pretrained(PAIR_MODEL, trainable=True)
    train_ctx, dev_ctx = with_previous_sentence(train, model.targets), with_previous_sentence(dev, model.targets)
    backbone = model.backbone.settings
    training = TrainingArguments(
        epochs=args.epochs, learning_rate=2e-4, seed=args.seed, lora_rank=backbone.lora["r"], max_length=backbone.max_length,
        init_model=str(PAIR_MODEL), model_name="context-previous-sentence",
    )  # fmt: skip
    started = time.perf_counter()
    result = Trainer(training, train_ctx, dev_ctx, model=model, progress=False).train()
    minutes = (time.perf_counter() - started) / 60
    rows = {f"+ previous sentence as context (seed {args.seed}, best epoch {result.best_epoch})": row_from_probabilities(
        dev, *StanceEvaluator(dev_ctx, gate=False).predict(result.model)
    )}  # fmt: skip
    for folder in args.baseline:
        baseline = StanceModel.from_pretrained(folder)
        rows[f"without context ({folder})"] = row_from_probabilities(dev, *StanceEvaluator(dev, gate=False).predict(baseline))
    with_context = sum(" | before: " in ex.query for ex in dev_ctx)
    print(f"{datetime.date.today()} · {platform.processor() or platform.machine()} · {len(os.sched_getaffinity(0))} cores · "
          f"{len(train_ctx)} train pairs, {len(dev_ctx)} dev pairs ({with_context} with a previous sentence); trained in {minutes:.1f} min\n")  # fmt: skip
    print(f"| recipe | {HEADER} |")
    print("| --- " * (1 + len(COLUMNS)) + "|")
    for name, row in rows.items():
        print(f"| {name} | {cells(row)} |")
    print("\nhistory: " + "; ".join(f"epoch {h['epoch']}: {h['dev_f_avg']:.3f}" for h in result.history))


if __name__ == "__main__":
    main()
