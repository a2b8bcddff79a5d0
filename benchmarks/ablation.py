"""Model folders side by side on the dev split (``seeds/dev-articles.txt``: 52 articles, 39 of them
real SemEval-2025 articles): dev F_avg on all and on real articles, per target on real articles,
voice accuracy, as ``analyze`` scores (alias gate on, int8 ONNX unless ``--runtime torch``).
Folders that differ only in ``--seed`` are grouped: mean and spread. The rows of issue 10's ablation; below
them, each folder's real-dev F_avg with a bootstrap interval over the real articles, and its paired difference
from the first folder. Int8 figures hold one draw of the runtime's batching noise (about ±2 points of real dev,
README "Speed: the alias gate and the int8 runtime"); ``--runtime torch`` has none, so recipes compare there.

    python -m benchmarks.ablation models/default runs/a-seed42 runs/a-seed43 [--runtime torch]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path

import numpy as np
from stance.models import STANCE_LABELS, StanceModel
from stance.training.data import StanceExample
from stance.training.evaluation import CONFIDENCE_LEVEL, StanceEvaluator, f_avg, f_avg_interval

from benchmarks.common import default_split

TARGETS = ("russia", "west", "eu", "nato")
COLUMNS = ("all", "real", *TARGETS, "voice")  # the keys of a row, in table order
HEADER = f"dev F_avg (all) | dev F_avg (real) | {' | '.join(TARGETS)} | voice acc. (real)"


def is_real(article_id: str | None) -> bool:
    return bool(article_id) and article_id.startswith("EN_")


def scores(model: StanceModel, dev: list[StanceExample]) -> tuple[dict[str, float], list[str]]:
    """The table row of ``model`` and its label for each dev pair."""
    evaluator = StanceEvaluator(dev)
    stance, voice = evaluator.predict(model)
    return row_from_probabilities(dev, stance, voice, scored=evaluator.scored(model)), [STANCE_LABELS[i] for i in stance.argmax(1)]


def interval_table(dev: list[StanceExample], predicted: dict[str, list[str]]) -> list[str]:
    """Real-dev F_avg of each folder with its bootstrap interval over the real articles, and each folder minus
    the first on the same resamples (paired): whether a difference in the table is more than the articles drawn."""
    real = [i for i, ex in enumerate(dev) if is_real(ex.article_id)]
    gold, groups = [dev[i].label for i in real], [dev[i].article_id for i in real]
    articles = len(set(groups))
    if articles < 2:
        return []
    first, *_ = predicted
    baseline = [predicted[first][i] for i in real]
    baseline_score = f_avg(gold, baseline)
    lines = [
        f"| model | dev F_avg (real) | {CONFIDENCE_LEVEL:.0%} interval ({articles} articles) | minus {first} | {CONFIDENCE_LEVEL:.0%} interval of the difference |",
        "| --- | --- | --- | --- | --- |",
    ]
    for folder, labels in predicted.items():
        own = [labels[i] for i in real]
        score = f_avg(gold, own)
        low, high = f_avg_interval(gold, own, groups)
        paired = f_avg_interval(gold, own, groups, baseline=baseline)
        lines.append(
            f"| {folder} | {score:.3f} | {low:.3f}-{high:.3f} | {score - baseline_score:+.3f} | {paired[0]:+.3f} to {paired[1]:+.3f} |"
        )
    return lines


def speeds_in_turns(models: dict[str, StanceModel], dev: list[StanceExample], *, rounds: int = 3) -> dict[str, dict[str, float]]:
    """Sentences/s of each model, ``predict`` over the dev sentences (every target scored) and
    ``analyze`` over the dev articles, the models timed in turns, round after round, and the
    best round kept: on a shared machine whose speed drifts, models timed one after another differ
    by the drift."""
    sentences, articles = sorted({ex.text for ex in dev}), dev_articles(dev)
    in_articles = len({(ex.article_id, ex.sentence_id) for ex in dev})
    best: dict[str, dict[str, float]] = defaultdict(lambda: {"speed": 0.0, "article speed": 0.0})
    for _ in range(rounds):
        for folder, model in models.items():
            speeds = {
                "speed": sentences_per_second(lambda texts, model=model: model.predict(texts, gate=False), sentences, rounds=1),
                "article speed": sentences_per_second(model.analyze_many, articles, sentences=in_articles, rounds=1),
            }
            best[folder] = {key: max(best[folder][key], value) for key, value in speeds.items()}
    return dict(best)


def dev_articles(dev: list[StanceExample]) -> list[str]:
    """The dev articles as text, their sentences in order (``analyze`` splits them again)."""
    sentences: dict[str, dict[int, str]] = defaultdict(dict)
    for ex in dev:
        sentences[ex.article_id][ex.sentence_id] = ex.text
    return [" ".join(by_id[i] for i in sorted(by_id)) for by_id in sentences.values()]


def sentences_per_second(score: Callable[[list[str]], object], texts: list[str], *, sentences: int | None = None, rounds: int = 2) -> float:
    """The best of ``rounds`` timings of ``score`` over the texts (e.g. ``predict``, every target scored), as
    sentences per second: ``sentences`` in all (default: one a text)."""
    best = math.inf
    for _ in range(rounds):
        started = time.perf_counter()
        score(texts)
        best = min(best, time.perf_counter() - started)
    return (sentences or len(texts)) / best


def row_from_probabilities(
    dev: list[StanceExample], stance: np.ndarray, voice: np.ndarray, *, scored: np.ndarray | None = None
) -> dict[str, float]:
    """F_avg on all and on real articles, per target and voice accuracy on real ones, from probabilities per dev pair."""
    scored = np.ones(len(dev), dtype=bool) if scored is None else scored
    every = StanceEvaluator(dev).compute(stance, voice, scored=scored)
    real = [i for i, ex in enumerate(dev) if is_real(ex.article_id)]
    on_real = StanceEvaluator([dev[i] for i in real]).compute(stance[real], voice[real], scored=scored[real])
    row = {"all": every["overall"]["f_avg"], "real": on_real["overall"]["f_avg"], "voice": on_real["voice"]["accuracy"]}
    row.update({target: on_real["targets"][target]["f_avg"] for target in TARGETS})
    return row


def cells(row: dict[str, float]) -> str:
    """A row's figures as table cells, in ``COLUMNS`` order."""
    return " | ".join(f"{row[column]:.3f}" for column in COLUMNS)


def recipe(folder: str) -> tuple[str, str]:
    """A folder's model name and what it was trained with, but for the seed: folders that agree on the second
    are seeds of one recipe (a shared model name alone does not make two runs seeds of each other)."""
    config_path = Path(folder) / "training_config.json"
    if not config_path.is_file():
        return folder, folder
    config = json.loads(config_path.read_text(encoding="utf-8"))
    training = {key: value for key, value in config["training"].items() if key not in ("seed", "device")}
    return training.get("model_name") or folder, json.dumps([training, config["data"].get("train pairs")], sort_keys=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="+", help="model folders; folders trained alike but for --seed are seeds of one recipe")
    parser.add_argument("--runtime", choices=("onnx", "torch"), default="onnx")
    parser.add_argument(
        "--speed",
        action="store_true",
        help="add sentences/s of predict over the dev sentences (all four targets scored) and of analyze over the dev articles, the models timed in turns",
    )
    args = parser.parse_args()
    _, dev = default_split()
    row_of, labels_of, kept = {}, {}, {}
    for folder in args.models:
        model = StanceModel.from_pretrained(folder, runtime=args.runtime)
        row_of[folder], labels_of[folder] = scores(model, dev)
        if args.speed:
            kept[folder] = model
    for folder, speeds in speeds_in_turns(kept, dev).items():
        row_of[folder].update(speeds)
    groups: dict[tuple[str, str], list[str]] = defaultdict(list)
    for folder in args.models:
        groups[recipe(folder)].append(folder)
    names = Counter(name for name, _ in groups)
    columns = (*COLUMNS, "speed", "article speed") if args.speed else COLUMNS
    speed_header = f" sentences/s, 4 targets ({args.runtime}) | sentences/s in articles (analyze, gate on) |"
    print(f"| model | seeds | {HEADER} |" + (speed_header if args.speed else ""))
    print(f"| --- | ---: |{' --- |' * len(columns)}")
    for (name, _), folders in groups.items():
        rows = [row_of[folder] for folder in folders]
        if names[name] > 1:
            name = ", ".join(folders)
        cells = []
        for column in columns:
            values = [row[column] for row in rows]
            digits = 1 if column.endswith("speed") else 3
            spread = f" ± {statistics.stdev(values):.{digits}f}" if len(values) > 1 else ""
            cells.append(f"{statistics.mean(values):.{digits}f}{spread}")
        print(f"| {name} | {len(rows)} | {' | '.join(cells)} |")
    print()
    print("\n".join(interval_table(dev, labels_of)))


if __name__ == "__main__":
    main()
