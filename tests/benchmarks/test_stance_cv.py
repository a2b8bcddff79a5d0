"""Cross-validation of a stance recipe: folds split by article, each fold scored by its own model, pooled, resumable."""

from __future__ import annotations

import json

import numpy as np
import pytest
from jsonl_rows import write_jsonl
from stance.models import STANCE_LABELS, StanceModel
from stance.training.data import load_examples
from stance.training.evaluation import StanceEvaluator

from benchmarks.stance_cv import claim_folder, main, write_folds


def corpus_articles(seed_rows, count, *, skip=0):
    rows = [json.loads(line) for line in seed_rows.read_text(encoding="utf-8").splitlines() if line.strip()]
    wanted = sorted({row["article_id"] for row in rows})[skip : skip + count]
    return [row for row in rows if row["article_id"] in wanted]


def test_each_article_is_held_out_once_and_never_trained_on_in_its_fold(tmp_path, seed_rows):
    real = write_jsonl(tmp_path / "real.jsonl", corpus_articles(seed_rows, 7))
    lines = real.read_text(encoding="utf-8").splitlines()
    folds = write_folds(real, tmp_path / "folds", folds=3, seed=0)
    held_out = []
    for train, test in folds:
        train_lines, test_lines = train.read_text(encoding="utf-8").splitlines(), test.read_text(encoding="utf-8").splitlines()
        assert sorted(train_lines + test_lines) == sorted(lines)
        test_articles = {json.loads(line)["article_id"] for line in test_lines}
        assert not test_articles & {json.loads(line)["article_id"] for line in train_lines}
        held_out += sorted(test_articles)
    assert sorted(held_out) == sorted({json.loads(line)["article_id"] for line in lines})
    again = write_folds(real, tmp_path / "again", folds=3, seed=0)
    assert [test.read_text(encoding="utf-8") for _, test in again] == [test.read_text(encoding="utf-8") for _, test in folds]


def test_a_row_without_an_article_is_refused_by_file_and_line(tmp_path, seed_rows):
    rows = corpus_articles(seed_rows, 3)
    rows[4] = {key: value for key, value in rows[4].items() if key != "article_id"}
    real = write_jsonl(tmp_path / "real.jsonl", rows)
    with pytest.raises(ValueError, match=rf"{real}:5: a row without an article_id"):
        write_folds(real, tmp_path / "folds", folds=2, seed=0)


def test_pooled_predictions_come_from_each_folds_own_model_and_a_rerun_trains_nothing(tmp_path, seed_rows, tiny_encoder, capsys):
    real = write_jsonl(tmp_path / "real.jsonl", corpus_articles(seed_rows, 4))
    other = write_jsonl(tmp_path / "other.jsonl", corpus_articles(seed_rows, 3, skip=4))
    out = tmp_path / "cv"
    recipe = ["--encoder", str(tiny_encoder), "--epochs", "1", "--batch-size", "8", "--max-length", "32", "--quiet"]
    recipe += ["--data", str(other), "--dev-data", str(other), "--seed", "3"]
    argv = [str(out), "--real", str(real), "--folds", "2", "--runtime", "torch", "--", *recipe]
    assert main(argv) == 0
    first = capsys.readouterr().out
    first = first[first.index("| fold |") :]  # after the folds' training summaries
    predictions = [json.loads(line) for line in (out / "oof" / "predictions.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(predictions) == 4 * len(real.read_text(encoding="utf-8").splitlines())
    by_row = {
        (row["article_id"], row["sentence_id"], row["target"]): [row["scores"][label] for label in STANCE_LABELS] for row in predictions
    }
    for fold in range(2):
        model = StanceModel.from_pretrained(out / f"fold-{fold}", runtime="torch")
        held_out = load_examples([out / "folds" / f"fold-{fold}-test.jsonl"], targets=model.targets)
        stance, _ = StanceEvaluator(held_out).predict(model)
        assert np.array([by_row[(ex.article_id, ex.sentence_id, ex.target)] for ex in held_out]) == pytest.approx(stance, abs=1e-4)
        trained_on = json.loads((out / f"fold-{fold}" / "training_config.json").read_text(encoding="utf-8"))["data"]["files"]
        assert str(out / "folds" / f"fold-{fold}-train.jsonl") in trained_on
    metrics = json.loads((out / "oof" / "metrics.json").read_text(encoding="utf-8"))
    assert [fold["articles"] for fold in metrics["folds"]] == [2, 2]
    assert f"folds: F_avg {np.mean([fold['f_avg'] for fold in metrics['folds']]):.3f}" in first

    stamp = (out / "fold-0" / "model.safetensors").stat().st_mtime_ns
    assert main([*argv[:1], "--baseline", str(out), *argv[1:]]) == 0
    second = capsys.readouterr().out
    assert (out / "fold-0" / "model.safetensors").stat().st_mtime_ns == stamp
    assert second.startswith(first) and f"minus {out}: +0.000, 95% interval +0.000 to +0.000" in second


@pytest.mark.parametrize("option", ["--output", "--data"])
def test_a_recipe_that_sets_the_output_or_trains_on_the_real_rows_is_refused(tmp_path, seed_rows, option, capsys):
    real = write_jsonl(tmp_path / "real.jsonl", corpus_articles(seed_rows, 3))
    assert main([str(tmp_path / "cv"), "--real", str(real), "--", option, str(real if option == "--data" else tmp_path / "m")]) == 2
    err = capsys.readouterr().err
    assert "error:" in err and ("--output" in err if option == "--output" else "what the folds split" in err)
    assert not (tmp_path / "cv").exists()


def test_a_folder_of_another_run_is_refused_before_its_models_are_reused(tmp_path, seed_rows, capsys):
    real = write_jsonl(tmp_path / "real.jsonl", corpus_articles(seed_rows, 3))
    out = tmp_path / "cv"
    claim_folder(out, {"folds": 2, "fold seed": 0, "recipe": ["--epochs", "1"]})
    claim_folder(out, {"folds": 2, "fold seed": 0, "recipe": ["--epochs", "1"]})  # the same run goes on
    assert main([str(out), "--real", str(real), "--folds", "3", "--", "--epochs", "2"]) == 2
    err = capsys.readouterr().err
    assert f"{out} holds folds of another run" in err and "folds" in err and "recipe" in err
    assert sorted(path.name for path in out.iterdir()) == ["cv.json"]
