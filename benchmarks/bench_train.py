"""Training speed: one epoch over 10,000 (sentence, target) pairs with the packaged MiniLM
encoder on this machine's CPU, in the default recipe (LoRA, length-grouped batches,
dynamic padding). Prints a table; the goal is at most 8 minutes.

    python -m benchmarks.bench_train [--pairs 10000] [--lora-rank 16]
"""

from __future__ import annotations

import argparse
import datetime
import itertools
import os
import platform
import time

import torch
from stance.models import default_targets
from stance.training.arguments import TrainingArguments
from stance.training.data import load_examples
from stance.training.trainer import Trainer

from benchmarks.common import REPO


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=10_000)
    parser.add_argument("--lora-rank", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    examples = load_examples(REPO / "seeds" / "corpus.jsonl", targets=default_targets())
    pairs = list(itertools.islice(itertools.cycle(examples), args.pairs))
    training = TrainingArguments(epochs=1, lora_rank=args.lora_rank, batch_size=args.batch_size, device="cpu")
    trainer = Trainer(training, pairs, progress=False)
    started = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - started
    print(f"{datetime.date.today()} · {cpu_name()} · {os.cpu_count()} cores · torch {torch.__version__} ({torch.get_num_threads()} threads)\n")
    print("| pairs | encoder | mode | batch | epoch time | pairs/s | goal |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    mode = f"LoRA r={args.lora_rank}" if args.lora_rank else "full fine-tuning"
    verdict = "met" if seconds <= 480 else "missed"
    print(f"| {len(pairs)} | all-MiniLM-L6-v2 | {mode} | {args.batch_size} | {seconds / 60:.1f} min | {len(pairs) / seconds:.1f} | ≤ 8 min: {verdict} |")


if __name__ == "__main__":
    main()
