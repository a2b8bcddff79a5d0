"""What the benchmark scripts share: the dev split that every recipe is measured on (``seeds/dev-articles.txt``).

    python -m benchmarks.common runs/split   # that split as row files, for `stance train --data ... --dev-data ...`,
                                             # and the SemEval-2023 rows that name a target, labelled
                                             # (train and dev articles) and (for --transfer-data) unlabelled
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from stance.models import default_targets, sentence_hash
from stance.training.data import SHARED_SEMEVAL2023_EN, StanceExample, article_sentences, load_examples, shared_dir

REPO = Path(__file__).resolve().parents[1]
SEMEVAL2023_ROWS = REPO / "seeds" / "labels" / "semeval2023-train.jsonl"
SEMEVAL2023_DEV_ROWS = REPO / "seeds" / "labels" / "semeval2023-dev.jsonl"
DEFAULT_DATA = [REPO / "seeds" / "corpus.jsonl", REPO / "seeds" / "labels" / "urw-dev.jsonl", REPO / "seeds" / "labels" / "seed-article.jsonl"]
DEV_ARTICLES = REPO / "seeds" / "dev-articles.txt"


def dev_article_ids() -> set[str]:
    """The 52 articles (39 real) that recipes are selected on. Fixed in a file rather than read from the
    shipped model, because the shipped default is trained on them too once its recipe is chosen."""
    return set(DEV_ARTICLES.read_text(encoding="utf-8").split())


def add_held_out_model_option(parser: argparse.ArgumentParser) -> None:
    """``--model`` of the scripts that score the dev articles: a model that never trained on them."""
    parser.add_argument(
        "--model", default="minilm",
        help="a stance model trained without the dev articles (name or folder; not the shipped default since 1.7.0, which trains on them)",
    )  # fmt: skip


def default_split() -> tuple[list[StanceExample], list[StanceExample]]:
    """The labelled rows outside the dev articles, and those inside."""
    examples = load_examples(DEFAULT_DATA, targets=default_targets())
    dev_ids = dev_article_ids()
    return [ex for ex in examples if ex.article_id not in dev_ids], [ex for ex in examples if ex.article_id in dev_ids]


def write_default_split(folder: Path) -> list[Path]:
    """The split as row files (``train-<name>`` and ``dev-<name>`` per labelled file), so that
    ``stance train --data folder/train-* --dev-data folder/dev-*`` trains any recipe on the same
    training articles and scores it on the dev articles."""
    dev_ids = dev_article_ids()
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for source in DEFAULT_DATA:
        rows = [line for line in source.read_text(encoding="utf-8").splitlines() if line.strip()]
        for part, keep in (("train", False), ("dev", True)):
            kept = [row for row in rows if (json.loads(row).get("article_id") in dev_ids) == keep]
            if kept:  # an empty row file is refused by ``stance train``
                path = folder / f"{part}-{source.name}"
                path.write_text("".join(row + "\n" for row in kept), encoding="utf-8")
                written.append(path)
    return written


def write_naming_rows(source: Path, path: Path) -> Path:
    """The rows of ``source`` whose sentence names a target (an alias outside its non-references):
    of the SemEval-2023 articles, the 3,465 of 10,483 sentences that continued training of the default
    was measured with (all of them as gold rows slowed a recipe down: BENCHMARKS.md). Reads the text,
    so it needs ``../shared``."""
    targets = default_targets()
    # one example per sentence and target: a sentence is kept when one of its targets is named in it
    named = {(ex.article_id, ex.sentence_id) for ex in load_examples([source], targets=targets) if targets[ex.target].mentioned_in(ex.text)}
    rows = [line for line in source.read_text(encoding="utf-8").splitlines() if line.strip()]
    kept = [line for line, row in zip(rows, map(json.loads, rows), strict=True) if (row["article_id"], row["sentence_id"]) in named]
    path.write_text("".join(line + "\n" for line in kept), encoding="utf-8")
    return path


def write_unlabelled_naming_rows(labelled: Path, path: Path) -> Path:
    """Pointer rows (no labels) for the sentences that name a target in the SemEval-2023 articles that
    ``labelled`` does not cover: sentences nobody labelled, on which a student learns its teachers'
    probabilities (``stance train --teacher ... --transfer-data``). Needs ``../shared``."""
    targets = default_targets()
    covered = {json.loads(line)["article_id"] for line in labelled.read_text(encoding="utf-8").splitlines() if line.strip()}
    articles = shared_dir() / SHARED_SEMEVAL2023_EN
    rows = [
        {"article_id": article.stem, "sentence_id": sentence_id, "sentence_hash": sentence_hash(sentence)}
        for article in sorted(articles.glob("article*.txt"))
        if article.stem not in covered
        for sentence_id, sentence in enumerate(article_sentences(article.stem, (articles,)))  # as pointer rows are joined
        if any(target.mentioned_in(sentence) for target in targets.values())
    ]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


if __name__ == "__main__":
    import sys

    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/split")
    for path in write_default_split(folder):
        print(path)
    print(write_naming_rows(SEMEVAL2023_ROWS, folder / "semeval2023-naming.jsonl"))
    print(write_naming_rows(SEMEVAL2023_DEV_ROWS, folder / "semeval2023-dev-naming.jsonl"))
    print(write_unlabelled_naming_rows(SEMEVAL2023_ROWS, folder / "semeval2023-unlabelled-naming.jsonl"))
