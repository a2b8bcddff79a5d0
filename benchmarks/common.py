"""What the benchmark scripts share: the default model's train/dev split of the labelled data."""

from __future__ import annotations

import json
from pathlib import Path

from stance.models import DEFAULT_MODEL_DIR, default_targets
from stance.training.data import StanceExample, load_examples

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = [REPO / "seeds" / "corpus.jsonl", REPO / "seeds" / "labels" / "urw-dev.jsonl", REPO / "seeds" / "labels" / "seed-article.jsonl"]


def dev_article_ids(model_dir: Path = DEFAULT_MODEL_DIR) -> set[str]:
    """The articles a model held out for dev, as recorded by `stance train`."""
    config = json.loads((Path(model_dir) / "training_config.json").read_text(encoding="utf-8"))
    return set(config["data"]["dev article ids"])


def default_split(model_dir: Path = DEFAULT_MODEL_DIR) -> tuple[list[StanceExample], list[StanceExample]]:
    """The default model's training rows and dev rows, split exactly as it was trained."""
    examples = load_examples(DEFAULT_DATA, targets=default_targets())
    dev_ids = dev_article_ids(model_dir)
    return [ex for ex in examples if ex.article_id not in dev_ids], [ex for ex in examples if ex.article_id in dev_ids]
