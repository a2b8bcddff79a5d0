"""The ablation table groups seeds of one recipe, and only those; its interval table pairs each folder with the first."""

from __future__ import annotations

import json

from stance.training.data import StanceExample

from benchmarks.ablation import interval_table, recipe


def trained(folder, *, seed, learning_rate=4e-4, train_pairs=100, name="stance-model"):
    folder.mkdir()
    training = {"model_name": name, "seed": seed, "learning_rate": learning_rate, "device": "auto", "epochs": 5}
    config = {"training": training, "data": {"train pairs": train_pairs}}
    (folder / "training_config.json").write_text(json.dumps(config), encoding="utf-8")
    return str(folder)


def test_runs_that_differ_only_in_seed_are_one_recipe(tmp_path):
    assert recipe(trained(tmp_path / "s42", seed=42)) == recipe(trained(tmp_path / "s43", seed=43))


def test_runs_with_one_name_but_other_settings_or_data_are_apart(tmp_path):
    base = recipe(trained(tmp_path / "base", seed=42))
    assert recipe(trained(tmp_path / "lr", seed=42, learning_rate=1e-4)) != base
    assert recipe(trained(tmp_path / "data", seed=42, train_pairs=200)) != base
    assert base[0] == "stance-model"


def test_a_folder_without_training_config_is_its_own_recipe(tmp_path):
    assert recipe(str(tmp_path)) == (str(tmp_path), str(tmp_path))


def test_the_interval_table_reads_real_articles_and_pairs_each_folder_with_the_first():
    dev, first, second = [], [], []
    for article in range(6):
        for sentence, label in enumerate(["favor", "against", "neutral", "against"]):
            dev.append(
                StanceExample(
                    text=f"{article}-{sentence}", target="russia", label=label, article_id=f"EN_UA_{article}", sentence_id=sentence
                )
            )
            first.append("neutral" if sentence == 0 and article % 2 else label)
            second.append(label)
    dev.append(StanceExample(text="own", target="russia", label="favor", article_id="own-001", sentence_id=0))
    first.append("favor")
    second.append("against")  # an own article: not in the real-article figures
    header, _, first_row, second_row = interval_table(dev, {"runs/a": first, "runs/b": second})
    assert "(6 articles)" in header and "minus runs/a" in header
    cells = [cell.strip() for cell in first_row.strip("|").split("|")]
    assert cells[0] == "runs/a" and cells[3] == "+0.000" and cells[4] == "+0.000 to +0.000"
    cells = [cell.strip() for cell in second_row.strip("|").split("|")]
    assert cells[1] == "1.000" and float(cells[3]) > 0
    low, high = (float(value) for value in cells[4].split(" to "))
    assert 0 <= low <= float(cells[3]) <= high
