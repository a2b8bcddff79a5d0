"""The ablation table groups seeds of one recipe, and only those."""

from __future__ import annotations

import json

from benchmarks.ablation import recipe


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
