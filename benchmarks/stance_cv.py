"""A stance recipe by k-fold cross-validation over labelled articles (issue 10).

The 39 real dev articles tell recipes apart only when they differ by about 6 points of F_avg
(BENCHMARKS.md, "intervals"). Out-of-fold predictions on every labelled real article (182 in
``seeds/labels/urw-dev.jsonl``) narrow that: each fold trains the recipe with the other folds' articles
added to its training rows (``--extra-data``), and is scored on its own articles, with the alias gate and
the runtime the product uses. The folds split by article (``KFold`` over the sorted article ids, one
seed for every recipe, so two recipes are scored on the same folds and can be paired).

    python -m benchmarks.stance_cv runs/cv-1.6.0 --real seeds/labels/urw-dev.jsonl --folds 5 -- \\
        --reader sentence --encoder all-mpnet-base-v2 --learning-rate 4e-4 --epochs 5 --seed 42 --int8-ffn-output \\
        --data runs/split/train-corpus.jsonl seeds/labels/seed-article.jsonl seeds/labels/euvsdisinfo-claims.jsonl \\
               runs/split/semeval2023-naming.jsonl seeds/corpus-hard-cases.jsonl seeds/corpus-contrasts.jsonl \\
        --dev-data runs/split/dev-corpus.jsonl
    python -m benchmarks.stance_cv runs/cv-other ... --baseline runs/cv-1.6.0   # and a paired difference

Everything after ``--`` is ``stance train``'s options, less ``--output`` and the real rows. ``--dev-data``
(best epoch and calibration) should hold none of the real articles, so the scored folds stay unseen.
A fold whose model is already in ``OUT/fold-K`` is not trained again: a stopped run (or one spread over
several GPU sessions) goes on where it stopped. Written: ``OUT/folds/`` (the row files), ``OUT/fold-K/``
(the models) and ``OUT/oof/`` (what ``stance evaluate --out`` writes, for the pooled out-of-fold predictions).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from sklearn.model_selection import KFold
from stance.models import STANCE_LABELS, StanceModel
from stance.models.runtimes import RUNTIMES
from stance.training.data import load_examples
from stance.training.evaluation import StanceEvaluator, f_avg, f_avg_interval, format_summary

from stance.cli import main as stance_main

OWN_OPTIONS = ("--output",)  # options of `stance train` this script sets itself


def write_folds(real: Path, folder: Path, *, folds: int, seed: int) -> list[tuple[Path, Path]]:
    """The (train, test) row files of each fold: ``real``'s lines split by article."""
    lines = [(number, line) for number, line in enumerate(real.read_text(encoding="utf-8").splitlines(), start=1) if line.strip()]
    articles = []
    for number, line in lines:
        article = json.loads(line).get("article_id")
        if not article:
            raise ValueError(f"{real}:{number}: a row without an article_id cannot be put in a fold")
        articles.append(article)
    ids = sorted(set(articles))
    if len(ids) < folds:
        raise ValueError(f"{real} has {len(ids)} articles, fewer than {folds} folds")
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for fold, (_, test) in enumerate(KFold(n_splits=folds, shuffle=True, random_state=seed).split(ids)):
        held_out = {ids[i] for i in test}
        paths = folder / f"fold-{fold}-train.jsonl", folder / f"fold-{fold}-test.jsonl"
        for path, keep in zip(paths, (False, True), strict=True):
            path.write_text(
                "".join(line + "\n" for (_, line), article in zip(lines, articles, strict=True) if (article in held_out) == keep),
                encoding="utf-8",
            )
        written.append(paths)
    return written


def fold_recipe(recipe: Sequence[str], train_rows: Path, output: Path) -> list[str]:
    """``stance train``'s arguments for one fold: the recipe with the fold's real rows added to training."""
    recipe = list(recipe)
    if "--extra-data" in recipe:
        at = recipe.index("--extra-data") + 1
        recipe[at:at] = [str(train_rows)]
    else:
        recipe += ["--extra-data", str(train_rows)]
    return ["train", *recipe, "--output", str(output)]


def check_recipe(recipe: Sequence[str], real: Path) -> None:
    given = [option for option in OWN_OPTIONS if option in recipe]
    if given:
        raise ValueError(f"the folds set {' and '.join(given)} themselves: drop it from the recipe")
    if any(Path(argument).resolve() == real.resolve() for argument in recipe if not argument.startswith("-")):
        raise ValueError(f"{real} is what the folds split: leave it out of the recipe's --data, --dev-data and --extra-data")


def claim_folder(out: Path, settings: dict) -> None:
    """Record what ``out``'s folds and models are made of; refuse a folder made of something else, whose
    trained folds would otherwise be taken for this run's."""
    record = out / "cv.json"
    if record.exists():
        before = json.loads(record.read_text(encoding="utf-8"))
        changed = [key for key in settings if before.get(key) != settings[key]]
        if changed:
            raise ValueError(f"{out} holds folds of another run (its {', '.join(changed)} differ): give a new folder")
        return
    out.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps(settings, indent=2) + "\n", encoding="utf-8")


def cross_validate(out: Path, *, real: Path, recipe: Sequence[str], folds: int = 5, fold_seed: int = 0, runtime: str = "auto") -> dict:
    """Train the recipe on each fold (unless its model is there), score the held-out articles and
    pool them; returns ``StanceEvaluator`` metrics with ``folds`` (each fold's F_avg and size) added."""
    check_recipe(recipe, real)
    real_rows = hashlib.sha256(real.read_bytes()).hexdigest()
    claim_folder(out, {"real rows (sha256)": real_rows, "folds": folds, "fold seed": fold_seed, "recipe": list(recipe)})
    examples, stance, voice, scored, per_fold = [], [], [], [], []
    for fold, (train_rows, test_rows) in enumerate(write_folds(real, out / "folds", folds=folds, seed=fold_seed)):
        model_dir = out / f"fold-{fold}"
        if not (model_dir / "config.json").exists():
            code = stance_main(fold_recipe(recipe, train_rows, model_dir))
            if code != 0:
                raise RuntimeError(f"fold {fold}: stance train exited with {code}")
        model = StanceModel.from_pretrained(model_dir, runtime=runtime)
        held_out = load_examples([test_rows], targets=model.targets)
        evaluator = StanceEvaluator(held_out)
        fold_scored = evaluator.scored(model)
        fold_stance, fold_voice = evaluator.predict(model)
        fold_score = f_avg([ex.label for ex in held_out], [STANCE_LABELS[i] for i in fold_stance.argmax(1)])
        per_fold.append({"fold": fold, "articles": len({ex.article_id for ex in held_out}), "pairs": len(held_out), "f_avg": fold_score})
        print(f"fold {fold}: {per_fold[-1]['articles']} articles, F_avg {per_fold[-1]['f_avg']:.3f}", file=sys.stderr, flush=True)
        examples += held_out
        stance.append(fold_stance)
        voice.append(fold_voice)
        scored.append(fold_scored)
    pooled = StanceEvaluator(examples)
    stance, voice = np.concatenate(stance), np.concatenate(voice)
    metrics = {**pooled.compute(stance, voice, scored=np.concatenate(scored)), "folds": per_fold}
    pooled.write(out / "oof", metrics, stance, voice)
    return metrics


def read_predictions(folder: Path) -> dict[tuple, dict]:
    rows = (json.loads(line) for line in (folder / "oof" / "predictions.jsonl").read_text(encoding="utf-8").splitlines() if line.strip())
    return {(row["article_id"], row["sentence_id"], row["target"]): row for row in rows}


def paired_difference(folder: Path, baseline: Path) -> tuple[float, tuple[float, float] | None]:
    """F_avg of ``folder``'s out-of-fold predictions minus ``baseline``'s on the same rows, with the paired
    interval that resamples whole articles."""
    ours, theirs = read_predictions(folder), read_predictions(baseline)
    if ours.keys() != theirs.keys():
        raise ValueError(f"{folder} and {baseline} scored different rows: run both on the same --real file, --folds and --fold-seed")
    keys = sorted(ours)
    gold = [ours[key]["gold"] for key in keys]
    predicted, before = [ours[key]["predicted"] for key in keys], [theirs[key]["predicted"] for key in keys]
    groups = [key[0] for key in keys]
    return f_avg(gold, predicted) - f_avg(gold, before), f_avg_interval(gold, predicted, groups, baseline=before)


def report(metrics: dict) -> str:
    lines = ["| fold | articles | pairs | F_avg |", "| ---: | ---: | ---: | --- |"]
    lines += [f"| {fold['fold']} | {fold['articles']} | {fold['pairs']} | {fold['f_avg']:.3f} |" for fold in metrics["folds"]]
    scores = [fold["f_avg"] for fold in metrics["folds"]]
    lines += [
        f"folds: F_avg {np.mean(scores):.3f} ± {np.std(scores, ddof=1) if len(scores) > 1 else 0.0:.3f}",
        "pooled out-of-fold:",
        format_summary(metrics),
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    recipe = argv[argv.index("--") + 1 :] if "--" in argv else []
    parser = argparse.ArgumentParser(prog="python -m benchmarks.stance_cv", description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="a folder for the folds, their models and the pooled predictions")
    parser.add_argument("--real", type=Path, required=True, help="the labelled rows the folds split by article")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--fold-seed", type=int, default=0, help="the same for every recipe that is to be paired")
    parser.add_argument("--runtime", default="auto", choices=RUNTIMES)
    parser.add_argument("--baseline", type=Path, help="an earlier OUT on the same folds: print the paired difference")
    args = parser.parse_args(argv[: argv.index("--")] if "--" in argv else argv)
    if args.folds < 2:
        parser.error("--folds must be at least 2")
    try:
        metrics = cross_validate(args.out, real=args.real, recipe=recipe, folds=args.folds, fold_seed=args.fold_seed, runtime=args.runtime)
        print(report(metrics))
        if args.baseline:
            difference, interval = paired_difference(args.out, args.baseline)
            span = "" if interval is None else f", 95% interval {interval[0]:+.3f} to {interval[1]:+.3f}"
            print(f"minus {args.baseline}: {difference:+.3f}{span}")
    except (ValueError, RuntimeError) as error:
        print(f"{parser.prog}: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
