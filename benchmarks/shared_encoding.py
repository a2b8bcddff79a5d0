"""Issue 11's "design to measure": encode each sentence once and let stance (per-target heads
over the sentence's token states, each with its target's query), frames and narratives all read
that one encoding, against today's one encoding per (sentence, target query) pair.

The shared model is the product's sentence reader (``stance.models.sentence_reader``, ``stance
train --reader sentence``; since session 6, before which this script held its own copy of it): the
packaged MiniLM (or ``--encoder``) with LoRA (rank 16), as the pair model; each target has a query
vector (started from the frozen encoding of the target's query text) that attends over the
sentence's token states; the attended vector beside the mean-pooled sentence feeds the target's
stance and voice heads. It is trained by the project's ``Trainer`` with the pair recipe (LoRA 16,
learning rate 1e-3, 6 epochs, warm-up 10%, square-root class weights, voice weight 0.5, best epoch
by dev F_avg) on the default model's split without NewsMTSC (its rows name other targets), 8
sentences a step (= 32 pairs, as the pair model's batches). Compare with a pair model trained on the
same rows (``--pair-model``, e.g. ``stance train --data runs/split/train-* --dev-data
runs/split/dev-* --lora-rank 16 --learning-rate 1e-3 --epochs 6 --seed 42``).

Reported, every pair scored (no alias gate), torch fp32: dev F_avg on all and real articles as
``benchmarks.ablation`` computes it; sentences per second of ``predict`` with all four targets
(batches of 16 sorted by length); and frames and narratives read from the shared encoder's sentence vectors
(averaged per article; the shipped head recipe, nested 5-fold CV as in ``benchmarks.article_cv``).

    python -m benchmarks.shared_encoding --pair-model runs/pair-s42 [--epochs 6] [--seed 42] [--extra-data ROWS ...]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from stance.models import StanceModel, default_targets
from stance.models.sentence_reader import SentenceStanceModel
from stance.models.sentences import split_sentences
from stance.training.arguments import TrainingArguments
from stance.training.data import load_examples
from stance.training.evaluation import StanceEvaluator
from stance.training.trainer import Trainer

from benchmarks.ablation import COLUMNS, HEADER, cells, row_from_probabilities, sentences_per_second
from benchmarks.article_cv import LABEL_FILES, gold_of, shipped_recipe_metrics
from benchmarks.common import default_split

BATCH = 16


@torch.inference_mode()
def sentence_vectors(model: SentenceStanceModel, texts: Sequence[str], *, batch_size: int = BATCH) -> np.ndarray:
    """The mean-pooled token states the stance heads read beside each target's attended vector."""
    model.eval()
    batches = [model.backbone(**model.backbone.tokenize(texts[i : i + batch_size])) for i in range(0, len(texts), batch_size)]
    return torch.cat(batches).numpy()


def framing_from_sentences(model: SentenceStanceModel) -> dict[str, dict]:
    """Frames and narratives from the shared encoder's sentence vectors, averaged per article (nested CV)."""
    results = {}
    for task in LABEL_FILES:
        _, examples, _, _ = gold_of(task)
        sentences = [[s.text for s in split_sentences(ex.text)] or [ex.text] for ex in examples]
        vectors = sentence_vectors(model, [s for article in sentences for s in article])
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
    train, dev = default_split()
    train = train + (load_examples(args.extra_data, targets=targets) if args.extra_data else [])
    training = TrainingArguments(
        encoder=args.encoder, epochs=args.epochs, batch_size=8, learning_rate=1e-3, seed=args.seed, model_name="shared-sentence", reader="sentence"
    )
    started = time.perf_counter()
    result = Trainer(training, train, dev, targets=targets, progress=False).train()
    train_seconds = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as folder:  # reloaded with its adapters merged, as it is served
        model = StanceModel.from_pretrained(result.model.save_pretrained(Path(folder) / "model"))

    def every_pair(scorer: StanceModel):
        return lambda texts: scorer.predict(texts, gate=False, batch_size=BATCH)

    rows = {f"shared sentence encoding (seed {args.seed}, best epoch {result.best_epoch})": model}
    rows.update({f"pair encoder ({folder})": StanceModel.from_pretrained(folder) for folder in args.pair_model})
    sentences = sorted({ex.text for ex in dev})
    speed = {name: sentences_per_second(every_pair(scorer), sentences, rounds=3) for name, scorer in rows.items()}
    rows = {name: row_from_probabilities(dev, *StanceEvaluator(dev, gate=False).predict(scorer)) for name, scorer in rows.items()}
    print(f"{datetime.date.today()} · {platform.processor() or platform.machine()} · {len(os.sched_getaffinity(0))} cores · "
          f"{len({ex.text for ex in train})} train sentences ({len(train)} pairs), {len(sentences)} dev sentences ({len(dev)} pairs); "
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
