"""The labelling loop on the real articles, with the gold labels as the annotator.

The shipped model never trained on its own dev articles, so only those can show what new
labels teach it: the real (SemEval-2025) dev articles of ``models/default`` are split by
article into a pool half and an evaluation half. Each round, for ``uncertain`` and for
``random`` selection: ``stance label`` picks sentences from the pool (the model of the last
round scores them), the gold labels answer them as annotations in a Label Studio export,
``stance train --init-model models/default`` trains one epoch on every label so far (dev data:
the export itself, so the evaluation half is never seen), and the new model is scored on the
evaluation half. Text is read from ../shared at run time; everything is written under
``runs/label-loop`` except the plot.

    python -m benchmarks.label_loop [--per-round 100] [--rounds 4]
"""

from __future__ import annotations

import argparse
import json
import random
import time
from datetime import UTC, datetime
from pathlib import Path

from stance.models import DEFAULT_MODEL_DIR, StanceModel
from stance.training.data import REPO_ROOT, load_examples, shared_dir
from stance.training.evaluation import StanceEvaluator

from stance.cli import main as stance

LABELS = REPO_ROOT / "seeds" / "labels" / "urw-dev.jsonl"
TEXTS = Path("datasets") / "semeval2025-urw" / "dev"
PLOT = REPO_ROOT / "benchmarks" / "label_loop.png"
STRATEGIES = ("uncertain", "random")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-round", type=int, default=100, help="sentences labelled per round")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--learning-rate", type=float, default=5e-4)
    parser.add_argument("--out", default=str(REPO_ROOT / "runs" / "label-loop"))
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    dev_ids = json.loads((DEFAULT_MODEL_DIR / "training_config.json").read_text())["data"]["dev article ids"]
    rows = [json.loads(line) for line in LABELS.read_text(encoding="utf-8").splitlines() if line.strip()]
    real = sorted({row["article_id"] for row in rows} & set(dev_ids))
    random.Random(args.seed).shuffle(real)
    pool_ids, eval_ids = sorted(real[: len(real) // 2 + len(real) % 2]), sorted(real[len(real) // 2 + len(real) % 2 :])
    gold = {(row["article_id"], row["sentence_id"]): row for row in rows if row["article_id"] in pool_ids}
    eval_rows = out / "eval.jsonl"  # pointer rows: no text in the file
    eval_rows.write_text("".join(json.dumps(row) + "\n" for row in rows if row["article_id"] in eval_ids), encoding="utf-8")
    pool = out / "pool-articles.jsonl"
    pool.write_text(
        "".join(json.dumps({"id": i, "text": (shared_dir() / TEXTS / f"{i}.txt").read_text(encoding="utf-8")}) + "\n" for i in pool_ids),
        encoding="utf-8",
    )
    evaluator = StanceEvaluator(load_examples(eval_rows, targets=StanceModel.from_pretrained().targets))
    print(f"pool: {len(pool_ids)} articles, {len(gold)} labelled sentences; evaluation: {len(eval_ids)} articles, {len(evaluator.examples)} pairs")

    baseline = evaluator(StanceModel.from_pretrained())["overall"]["f_avg"]
    results = {strategy: [(0, baseline)] for strategy in STRATEGIES}
    for strategy in STRATEGIES:
        model_dir, task_files, export = str(DEFAULT_MODEL_DIR), [], []
        for round_no in range(1, args.rounds + 1):
            started = time.perf_counter()
            tasks = out / f"{strategy}-r{round_no}.tasks.json"
            label_args = ["label", "--input", str(pool), "--output", str(tasks), "--select", strategy, "--n", str(args.per_round)]
            label_args += ["--model", model_dir, "--runtime", "torch", "--seed", str(args.seed + round_no)]
            _run([*label_args, *(["--exclude", *map(str, task_files)] if task_files else [])])
            task_files.append(tasks)
            export += annotate(json.loads(tasks.read_text(encoding="utf-8")), gold, first_id=len(export) + 1)
            export_file = out / f"{strategy}-r{round_no}.export.json"
            export_file.write_text(json.dumps(export), encoding="utf-8")
            model_dir = str(out / f"{strategy}-r{round_no}.model")
            _run(["train", "--init-model", str(DEFAULT_MODEL_DIR), "--data", str(export_file), "--dev-data", str(export_file), "--epochs", "1",
                  "--learning-rate", str(args.learning_rate), "--seed", str(args.seed), "--output", model_dir, "--quiet"])  # fmt: skip
            f_avg = evaluator(StanceModel.from_pretrained(model_dir))["overall"]["f_avg"]
            labelled = sum(1 for task in export if not task["annotations"][0]["was_cancelled"])
            results[strategy].append((labelled, f_avg))
            print(f"{strategy} round {round_no}: {labelled} sentences labelled, eval F_avg {f_avg:.3f} ({time.perf_counter() - started:.0f} s)", flush=True)
            (out / "results.json").write_text(json.dumps(results, indent=2), encoding="utf-8")

    print("\n| sentences labelled | " + " | ".join(f"{s} F_avg" for s in STRATEGIES) + " |")
    print("|---|" + "---|" * len(STRATEGIES))
    for row in zip(*(results[s] for s in STRATEGIES), strict=True):
        print(f"| {' / '.join(str(n) for n, _ in row)} | " + " | ".join(f"{f:.3f}" for _, f in row) + " |")
    plot(results, PLOT)
    print(f"plot written to {PLOT}")


def annotate(tasks: list[dict], gold: dict, *, first_id: int) -> list[dict]:
    """The tasks as a Label Studio export, answered with the gold labels (skipped where none)."""
    now = datetime.now(UTC).isoformat()
    answered = []
    for offset, task in enumerate(tasks):
        row = gold.get((task["data"]["article_id"], task["data"]["sentence_index"]))
        result = [
            {"from_name": name, "to_name": "text", "type": "choices", "value": {"choices": [row[name]]}}
            for name in ("russia", "west", "eu", "nato", "voice")
            if row is not None and row.get(name)
        ]
        annotation = {"id": first_id + offset, "result": result, "was_cancelled": row is None, "created_at": now, "updated_at": now}
        answered.append({"id": first_id + offset, **task, "annotations": [annotation]})
    return answered


def plot(results: dict[str, list[tuple[int, float]]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 4), dpi=120)
    for strategy, points in results.items():
        axes.plot([n for n, _ in points], [f for _, f in points], marker="o", label=f"--select {strategy}")
    axes.set_xlabel("sentences labelled (real articles)")
    axes.set_ylabel("F_avg on the evaluation half")
    axes.set_title("Labelling loop from the shipped model")
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def _run(argv: list[str]) -> None:
    if stance(argv) != 0:
        raise SystemExit(f"stance {' '.join(argv)} failed")


if __name__ == "__main__":
    main()
