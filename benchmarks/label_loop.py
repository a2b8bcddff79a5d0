"""The labelling loop on the real articles, with the gold labels as the annotator.

Only articles the model never trained on can show what new labels teach it: the real
(SemEval-2025) dev articles (``seeds/dev-articles.txt``) are split by article into a pool half and an
evaluation half, so ``--model`` must be one trained without them: ``minilm`` (the default here), or a run
of the default's recipe on the split (``make default-recipe``); not the shipped default since 1.7.0. Each round, for ``uncertain`` and for
``random`` selection: ``stance label`` picks sentences from the pool (the model of the last
round scores them), the gold labels answer them as annotations in a Label Studio export,
``stance train --init-model MODEL`` trains one epoch on every label so far (dev data:
the export itself, so the evaluation half is never seen), and the new model is scored on the
evaluation half. Text is read from ../shared at run time; everything is written under
``runs/label-loop`` except the plot.

    python -m benchmarks.label_loop [--model runs/default-recipe] [--per-round 100] [--rounds 4] [--random-seeds 42 7 13]
"""

from __future__ import annotations

import argparse
import json
import random
import time
from datetime import UTC, datetime
from pathlib import Path

from stance.models import StanceModel
from stance.training.data import REPO_ROOT, load_examples, shared_dir
from stance.training.evaluation import StanceEvaluator

from benchmarks.common import add_held_out_model_option, dev_article_ids
from stance.cli import main as stance

LABELS = REPO_ROOT / "seeds" / "labels" / "urw-dev.jsonl"
TEXTS = Path("datasets") / "semeval2025-urw" / "dev"
PLOT = REPO_ROOT / "benchmarks" / "label_loop.png"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_held_out_model_option(parser)
    parser.add_argument("--per-round", type=int, default=100, help="sentences labelled per round")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--seed", type=int, default=42, help="seed of the pool/evaluation split, of training and of the first random run")
    parser.add_argument("--select", nargs="+", choices=["uncertain", "random"], default=["uncertain", "random"], help="which selections to run")
    parser.add_argument("--random-seeds", type=int, nargs="+", default=[42], help="one random run per seed")
    parser.add_argument("--learning-rate", type=float, default=5e-4)
    parser.add_argument("--out", default=str(REPO_ROOT / "runs" / "label-loop"))
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    dev_ids = dev_article_ids()
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
    evaluator = StanceEvaluator(load_examples(eval_rows, targets=StanceModel.from_pretrained(args.model).targets))
    print(f"pool: {len(pool_ids)} articles, {len(gold)} labelled sentences; evaluation: {len(eval_ids)} articles, {len(evaluator.examples)} pairs")

    saved = out / "results.json"  # finished runs are kept, so more random seeds can be added later
    results = json.loads(saved.read_text(encoding="utf-8")) if saved.is_file() else {}
    runs = [("uncertain", "uncertain", args.seed)] if "uncertain" in args.select else []
    runs += [("random" if s == args.seed else f"random-{s}", "random", s) for s in args.random_seeds] if "random" in args.select else []
    baseline = None
    for name, strategy, seed in runs:
        if len(results.get(name, [])) == args.rounds + 1:
            continue
        baseline = evaluator(StanceModel.from_pretrained(args.model))["overall"]["f_avg"] if baseline is None else baseline
        results[name] = [(0, baseline)]
        model_dir, task_files, export = args.model, [], []
        for round_no in range(1, args.rounds + 1):
            started = time.perf_counter()
            tasks = out / f"{name}-r{round_no}.tasks.json"
            label_args = ["label", "--input", str(pool), "--output", str(tasks), "--select", strategy, "--n", str(args.per_round)]
            label_args += ["--model", model_dir, "--runtime", "torch", "--seed", str(seed + round_no)]
            _run([*label_args, *(["--exclude", *map(str, task_files)] if task_files else [])])
            task_files.append(tasks)
            export += annotate(json.loads(tasks.read_text(encoding="utf-8")), gold, first_id=len(export) + 1)
            export_file = out / f"{name}-r{round_no}.export.json"
            export_file.write_text(json.dumps(export), encoding="utf-8")
            model_dir = str(out / f"{name}-r{round_no}.model")
            _run(["train", "--init-model", args.model, "--data", str(export_file), "--dev-data", str(export_file), "--epochs", "1",
                  "--learning-rate", str(args.learning_rate), "--seed", str(args.seed), "--output", model_dir, "--quiet"])  # fmt: skip
            f_avg = evaluator(StanceModel.from_pretrained(model_dir))["overall"]["f_avg"]
            labelled = sum(1 for task in export if not task["annotations"][0]["was_cancelled"])
            results[name].append((labelled, f_avg))
            print(f"{name} round {round_no}: {labelled} sentences labelled, eval F_avg {f_avg:.3f} ({time.perf_counter() - started:.0f} s)", flush=True)
            saved.write_text(json.dumps(results, indent=2), encoding="utf-8")

    randoms = [points for name, points in results.items() if name.startswith("random")]
    if "uncertain" not in results or not randoms:
        return  # the other half runs in another process: merge the results.json files, then rerun to print and plot
    print(f"\n| sentences labelled | uncertain F_avg | random F_avg (mean of {len(randoms)} seed(s), min-max) |\n|---|---|---|")
    for (n, f_uncertain), *row in zip(results["uncertain"], *randoms, strict=True):
        values = [f for _, f in row]
        print(f"| {n} | {f_uncertain:.3f} | {sum(values) / len(values):.3f} ({min(values):.3f}-{max(values):.3f}) |")
    plot(results["uncertain"], randoms, PLOT)
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


def plot(uncertain: list[tuple[int, float]], randoms: list[list[tuple[int, float]]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 4), dpi=120)
    axes.plot([n for n, _ in uncertain], [f for _, f in uncertain], marker="o", label="--select uncertain")
    sizes = [n for n, _ in randoms[0]]
    values = [[f for _, f in points] for points in zip(*randoms, strict=True)]
    axes.plot(sizes, [sum(v) / len(v) for v in values], marker="s", label=f"--select random (mean of {len(randoms)} seed(s))")
    if len(randoms) > 1:
        axes.fill_between(sizes, [min(v) for v in values], [max(v) for v in values], alpha=0.2, color="C1", label="random: min-max")
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
