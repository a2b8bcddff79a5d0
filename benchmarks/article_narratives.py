"""Article level: do the model's article scores separate the SemEval-2025 organisers'
narratives? For each narrative, ROC AUC of the article's signed score toward a target
(mean P(favor) - P(against) over sentences that concern it) as a detector of the tag.

    python -m benchmarks.article_narratives [--model minilm | runs/default-recipe] [--all-articles]

By default only the dev articles (``seeds/dev-articles.txt``) are scored: held out by a model trained on the
split, not by one trained on every article; --all-articles adds the rest (optimistic).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from sklearn.metrics import roc_auc_score
from stance.models import StanceModel
from stance.training.data import SHARED_URW_DEV, shared_dir

from benchmarks.common import add_held_out_model_option, dev_article_ids

# narrative -> (target, +1 if the tag should raise the score, -1 if it should lower it)
NARRATIVES = {
    "URW: Discrediting the West, Diplomacy": ("west", -1),
    "URW: Praise of Russia": ("russia", +1),
    "URW: Russia is the Victim": ("russia", +1),
    "URW: Overpraising the West": ("west", +1),
    "URW: Blaming the war on others rather than the invader": ("west", -1),
}


def article_narratives(path: Path) -> dict[str, set[str]]:
    tags = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        name, narratives, *_ = line.split("\t") + [""]
        tags[name.removesuffix(".txt")] = {n.strip() for n in narratives.split(";") if n.strip()}
    return tags


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_held_out_model_option(parser)
    parser.add_argument("--all-articles", action="store_true")
    args = parser.parse_args()
    folder = shared_dir() / SHARED_URW_DEV
    tags = article_narratives(folder.parent / "dev-subtask-2-annotations.txt")
    articles = sorted(tags) if args.all_articles else sorted(set(tags) & dev_article_ids())
    model = StanceModel.from_pretrained(args.model)
    scores = {}
    for article in articles:
        summary = model.analyze((folder / f"{article}.txt").read_text(encoding="utf-8"), targets=["russia", "west"]).summary
        scores[article] = {target: s.score for target, s in summary.items()}
    print(f"{len(articles)} articles ({'all' if args.all_articles else 'the dev articles only'})\n")
    print("| narrative | target | tagged articles | ROC AUC |")
    print("| --- | --- | --- | --- |")
    for narrative, (target, sign) in NARRATIVES.items():
        labels = [narrative in tags[a] for a in articles]
        if 0 < sum(labels) < len(labels):
            auc = roc_auc_score(labels, [sign * scores[a][target] for a in articles])
            print(f"| {narrative} | {target} ({'lower' if sign < 0 else 'higher'} score) | {sum(labels)} | {auc:.3f} |")
        else:
            print(f"| {narrative} | {target} | {sum(labels)} | n/a |")


if __name__ == "__main__":
    main()
