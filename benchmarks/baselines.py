"""A model against two baselines on the same dev split (held-out articles):
TF-IDF + logistic regression (one per target) and a lexicon rule (VADER sentiment of
sentences whose target is mentioned). Prints per-target F_avg and macro-F1.

    python -m benchmarks.baselines [--model minilm | runs/default-recipe]
"""

from __future__ import annotations

import argparse
from collections import defaultdict

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from stance.models import STANCE_LABELS, StanceModel, default_targets
from stance.training.evaluation import StanceEvaluator, f_avg, macro_f1

from benchmarks.common import add_held_out_model_option, default_split

VADER_THRESHOLD = 0.05


def tfidf_predictions(train, dev) -> list[str]:
    by_target = defaultdict(list)
    for ex in train:
        by_target[ex.target].append(ex)
    classifiers = {}
    for target, rows in by_target.items():
        classifier = make_pipeline(TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True), LogisticRegression(max_iter=2000, class_weight="balanced"))
        classifiers[target] = classifier.fit([ex.text for ex in rows], [ex.label for ex in rows])
    return [classifiers[ex.target].predict([ex.text])[0] for ex in dev]


def vader_predictions(dev) -> list[str]:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    analyzer = SentimentIntensityAnalyzer()
    targets = default_targets()
    predictions = []
    for ex in dev:
        if not targets[ex.target].mentioned_in(ex.text):
            predictions.append("none")
            continue
        compound = analyzer.polarity_scores(ex.text)["compound"]
        predictions.append("favor" if compound >= VADER_THRESHOLD else "against" if compound <= -VADER_THRESHOLD else "neutral")
    return predictions


def table(dev, systems: dict[str, list[str]]) -> str:
    targets = list(default_targets())
    header = "| system | " + " | ".join(f"{t} F_avg" for t in targets) + " | overall F_avg | overall macro-F1 |"
    lines = [header, "|" + " --- |" * (len(targets) + 3)]
    gold = [ex.label for ex in dev]
    for name, predicted in systems.items():
        cells = []
        for target in targets:
            rows = [i for i, ex in enumerate(dev) if ex.target == target]
            cells.append(f"{f_avg([gold[i] for i in rows], [predicted[i] for i in rows]):.3f}")
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {f_avg(gold, predicted):.3f} | {macro_f1(gold, predicted):.3f} |")
    return "\n".join(lines)


def _labels(stance) -> list[str]:
    return [STANCE_LABELS[i] for i in stance.argmax(1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_held_out_model_option(parser)
    args = parser.parse_args()
    train, dev = default_split()
    model = StanceModel.from_pretrained(args.model)
    gate = "alias gate, window {}:{}".format(*model.settings.gate_window) if model.settings.gate else "no gate"
    systems = {
        f"the model (as shipped: {gate})": _labels(StanceEvaluator(dev).predict(model)[0]),
        "the model, every pair scored": _labels(StanceEvaluator(dev, gate=False).predict(model)[0]),
        "TF-IDF + logistic regression": tfidf_predictions(train, dev),
        "VADER lexicon": vader_predictions(dev),
    }
    real = [i for i, ex in enumerate(dev) if ex.article_id and ex.article_id.startswith("EN_")]
    print(f"dev: {len(dev)} pairs from {len({ex.article_id for ex in dev})} held-out articles\n")
    print("All dev articles (real + own corpus):\n")
    print(table(dev, systems))
    print("\nReal articles only (SemEval-2025 dev texts):\n")
    print(table([dev[i] for i in real], {name: [p[i] for i in real] for name, p in systems.items()}))


if __name__ == "__main__":
    main()
