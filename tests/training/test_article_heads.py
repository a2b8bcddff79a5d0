"""Head-only training on a frozen encoder: the fitted logistic regressions become the model's
head as they are, calibration comes from out-of-fold logits, and the estimate is a nested
cross-validation of the whole recipe."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.special import expit
from stance.models.framing import ArticleLabelModel
from stance.models.labelsets import LabelSet
from stance.training.article_heads import HeadRecipe, cross_validated_decisions, fit_linear_head, shift_thresholds

from stance.cli import main

TOY = LabelSet(task="narratives", labels=("URW: Praise of Russia", "URW: Discrediting the West, Diplomacy", "URW: Overpraising the West"), fallback="Other")


def separable(n: int = 60, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Vectors whose first two dimensions say the first two labels; the third label never occurs."""
    rng = np.random.default_rng(seed)
    gold = np.zeros((n, 3), dtype=np.float32)
    gold[: n // 3, 0] = 1
    gold[n // 3 : 2 * n // 3, 1] = 1
    vectors = rng.normal(0, 0.1, (n, 8)).astype(np.float32)
    vectors[:, :2] += 3 * gold[:, :2]
    order = rng.permutation(n)
    return vectors[order], gold[order]


def test_a_linear_head_on_separable_vectors_is_right_out_of_fold():
    vectors, gold = separable()
    fit = fit_linear_head(vectors, gold, TOY, regularization=1.0, folds=5, seed=0)
    assert fit.weight.shape == (3, 8) and fit.bias[2] == -20.0 and not fit.weight[2].any()  # no positive: never given
    probabilities = expit((vectors @ fit.weight.T + fit.bias) / fit.temperature)
    assert ((probabilities[:, :2] >= [fit.thresholds[label] for label in TOY.labels[:2]]) == (gold[:, :2] > 0)).all()
    decisions = cross_validated_decisions(vectors, gold, TOY, HeadRecipe(folds=5, seed=0))
    expected = [[label for label, on in zip(TOY.labels, row, strict=True) if on] or ["Other"] for row in gold > 0]
    assert decisions == expected


def test_thresholds_shift_together_for_the_tasks_metric():
    # label a: tuned at 0.3 for its own F1, but raising it wins two fallback articles their "Other"
    probabilities = np.array([[0.9, 0.0], [0.35, 0.0], [0.35, 0.0], [0.8, 0.0]])
    gold = np.array([[1, 0], [0, 0], [0, 0], [1, 0]], dtype=np.float32)
    labelset = LabelSet(task="narratives", labels=("a", "b"), fallback="Other")
    shifted = shift_thresholds(probabilities, gold, labelset, {"a": 0.3, "b": 0.5})
    assert 0.35 < shifted["a"] <= 0.8 and shifted["b"] - shifted["a"] == pytest.approx(0.2)


def test_stance_train_frozen_encoder_writes_a_head_only_model(tmp_path, tiny_encoder, capsys):
    rows = tmp_path / "articles.jsonl"
    texts = {
        "URW: Praise of Russia": "Putin said Russia is strong and the Kremlin praised Moscow.",
        "URW: Discrediting the West, Diplomacy": "Washington and the West lied, and Western diplomacy failed again.",
    }
    lines = []
    for i in range(12):
        label = list(texts)[i % 3] if i % 3 < 2 else None
        text = texts[label] if label else "The weather in Belgrade was mild on Monday."
        lines.append(json.dumps({"article_id": f"a{i}", "text": f"{text} Item {i}.", "labels": [label] if label else ["Other"]}))
    rows.write_text("\n".join(lines) + "\n", encoding="utf-8")
    output = tmp_path / "narratives"
    args = ["train", "--task", "narratives", "--frozen-encoder", "--data", str(rows), "--encoder", str(tiny_encoder), "--max-length", "32",
            "--name", "toy-narratives", "--output", str(output)]  # fmt: skip
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "samples-F1" in printed and "always 'Other'" in printed
    assert sum(f.stat().st_size for f in output.iterdir()) < 100_000
    config = json.loads((output / "training_config.json").read_text(encoding="utf-8"))
    assert config["recipe"].startswith("frozen encoder") and config["data"]["articles"] == 12
    assert set(config["cross_validated_metrics"]) == {"micro_f1", "macro_f1", "samples_f1", "articles"}
    card = (output / "README.md").read_text(encoding="utf-8")
    assert card.startswith("# toy-narratives 0") and "Always answering `Other`" in card
    model = ArticleLabelModel.from_pretrained(output)
    assert model.backbone.settings.frozen and model.head.thresholds
    assert main([*args[:-1], str(tmp_path / "other"), "--lora-rank", "4"]) == 2
    assert "drop --lora-rank and --dev-data" in capsys.readouterr().err


def test_stance_train_encoder_layers_fits_a_head_on_the_first_layers(tmp_path, tiny_encoder, capsys):
    rows = tmp_path / "articles.jsonl"
    lines = [
        json.dumps({"article_id": f"a{i}", "text": f"Putin praised Moscow again, item {i}." if i % 2 else f"Rain in Belgrade, item {i}.",
                    "labels": ["URW: Praise of Russia"] if i % 2 else ["Other"]})
        for i in range(10)
    ]  # fmt: skip
    rows.write_text("\n".join(lines) + "\n", encoding="utf-8")
    base = ["train", "--task", "narratives", "--data", str(rows), "--encoder", str(tiny_encoder), "--max-length", "32"]
    assert main([*base, "--frozen-encoder", "--encoder-layers", "1", "--output", str(tmp_path / "shallow")]) == 0
    config = json.loads((tmp_path / "shallow" / "config.json").read_text(encoding="utf-8"))
    assert config["backbone"]["layers"] == 1
    assert json.loads((tmp_path / "shallow" / "training_config.json").read_text(encoding="utf-8"))["training"]["layers"] == 1
    assert "--encoder-layers 1" in (tmp_path / "shallow" / "README.md").read_text(encoding="utf-8")  # the card's command reproduces it
    assert len(ArticleLabelModel.from_pretrained(tmp_path / "shallow").backbone.encoder.encoder.layer) == 1
    capsys.readouterr()
    assert main([*base, "--encoder-layers", "1", "--output", str(tmp_path / "tuned")]) == 2
    assert "add --frozen-encoder" in capsys.readouterr().err
    assert main([*base, "--frozen-encoder", "--encoder-layers", "5", "--output", str(tmp_path / "deep")]) == 2
    assert "has 2 layers, fewer than the 5" in capsys.readouterr().err
    assert not (tmp_path / "tuned").exists() and not (tmp_path / "deep").exists()
