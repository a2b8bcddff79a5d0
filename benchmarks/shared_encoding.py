"""Issue 11's "design to measure", in its cheap version: with the encoder frozen, does stance
read as well from one encoding per sentence (shared with frames and narratives) as from
today's one encoding per (sentence, target query) pair?

Both read the packaged MiniLM as it is (mean pooling, 128 tokens), on the stance data and the
dev split of the default model's recipe (``split_by_article``, 20% of articles, seed 42):

* pair: one vector per (sentence, query) pair, as the stance model reads them, plus the
  target as a one-hot; one multinomial logistic regression for all targets;
* sentence: one vector per sentence; the logistic regression reads it through the target
  (the outer product with the one-hot: a linear head per target), so the four targets cost
  one encoding.

Both heads: C=1, balanced class weights. Speed: sentences (with all four targets) per second
of frozen encoding, torch fp32, batches of 16 sorted by length. A frozen encoder is not the
shipped fine-tuned model; this says which input the heads can read stance from, not what a
fine-tuned shared encoder would reach.

    python -m benchmarks.shared_encoding
"""

from __future__ import annotations

import datetime
import os
import platform
import time

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from stance.models import default_targets
from stance.models.backbone import Backbone
from stance.training.data import load_examples, split_by_article
from stance.training.evaluation import f_avg, macro_f1

from benchmarks.common import DEFAULT_DATA

BATCH = 16


def encode(backbone: Backbone, texts: list[str], pairs: list[str] | None = None) -> tuple[np.ndarray, float]:
    """Mean-pooled vectors, and the seconds they took."""
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]) + (len(pairs[i]) if pairs else 0))
    vectors = np.zeros((len(texts), backbone.hidden_size), dtype=np.float32)
    started = time.perf_counter()
    with torch.inference_mode():
        for begin in range(0, len(order), BATCH):
            rows = order[begin : begin + BATCH]
            batch = backbone.tokenize([texts[i] for i in rows], [pairs[i] for i in rows] if pairs else None)
            vectors[rows] = backbone(**batch).numpy()
    return vectors, time.perf_counter() - started


def fit_and_score(train_x: np.ndarray, train_y: list[str], dev_x: np.ndarray, dev_y: list[str]) -> dict[str, float]:
    classifier = LogisticRegression(C=1.0, max_iter=3000, class_weight="balanced").fit(train_x, train_y)
    predicted = list(classifier.predict(dev_x))
    return {"f_avg": f_avg(dev_y, predicted), "macro_f1": macro_f1(dev_y, predicted)}


def main() -> None:
    torch.set_num_threads(max(1, len(os.sched_getaffinity(0))))
    targets = default_targets()
    names = list(targets)
    examples = load_examples(DEFAULT_DATA, targets=targets)
    train, dev = split_by_article(examples, dev_fraction=0.2, seed=42)
    backbone = Backbone.from_encoder(None, lora_rank=None, frozen=True, max_length=128).eval()
    sentences = sorted({ex.text for ex in examples})
    index = {text: i for i, text in enumerate(sentences)}
    sentence_vectors, _ = encode(backbone, sentences)
    pair_vectors, _ = encode(backbone, [ex.text for ex in examples], [ex.query or targets[ex.target].query for ex in examples])
    row = {id(ex): i for i, ex in enumerate(examples)}

    def one_hot(part):
        return np.eye(len(names), dtype=np.float32)[[names.index(ex.target) for ex in part]]

    def pair_features(part):
        return np.hstack([pair_vectors[[row[id(ex)] for ex in part]], one_hot(part)])

    def sentence_features(part):
        hot = one_hot(part)
        vectors = sentence_vectors[[index[ex.text] for ex in part]]
        return np.hstack([(hot[:, :, None] * vectors[:, None, :]).reshape(len(part), -1), hot])

    results = {
        "pair (sentence, target query) + target one-hot": fit_and_score(pair_features(train), [ex.label for ex in train], pair_features(dev), [ex.label for ex in dev]),
        "sentence alone, a linear head per target": fit_and_score(
            sentence_features(train), [ex.label for ex in train], sentence_features(dev), [ex.label for ex in dev]
        ),
    }
    # speed on the dev sentences that carry all four targets: one encoding each, or one per target
    dev_sentences = sorted({ex.text for ex in dev})
    _, sentence_seconds = encode(backbone, dev_sentences)
    _, pair_seconds = encode(backbone, [s for s in dev_sentences for _ in names], [targets[name].query for _ in dev_sentences for name in names])
    speed = {
        "pair (sentence, target query) + target one-hot": len(dev_sentences) / pair_seconds,
        "sentence alone, a linear head per target": len(dev_sentences) / sentence_seconds,
    }
    print(f"{datetime.date.today()} · {platform.processor() or platform.machine()} · {len(os.sched_getaffinity(0))} cores · "
          f"{len(train)} train pairs, {len(dev)} dev pairs ({len({ex.group for ex in dev})} articles), {len(dev_sentences)} dev sentences\n")  # fmt: skip
    print("| frozen MiniLM, linear head on | dev F_avg | dev macro-F1 | sentences/s (4 targets) |")
    print("| --- | --- | --- | --- |")
    for name, metrics in results.items():
        print(f"| {name} | {metrics['f_avg']:.3f} | {metrics['macro_f1']:.3f} | {speed[name]:.1f} |")


if __name__ == "__main__":
    main()
