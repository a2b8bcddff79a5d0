"""`stance predict | evaluate | train`, called in-process through stance.cli.main."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
from jsonl_rows import write_jsonl
from stance.models import STANCE_LABELS, StanceModel, split_sentences
from stance.models.config import SHIPPED_MODELS

from stance.cli import main

ARTICLE = (
    "NATO ministers meet in Brussels\n\n"
    "The alliance condemned the Kremlin's aggression. The U.S. ambassador met Gen. Smith on Monday.\n"
    "“We will never join NATO,” he said.\n"
)
INPUT = [
    {"id": "r1", "source": "wire", "text": "Serbia will never join NATO and will keep close ties with Moscow."},
    {"id": 2, "text": "The weather in Belgrade was mild on Monday.", "meta": {"page": 3}},
    {"id": "r3", "text": "Brussels praised the bloc's unity on sanctions against Russia."},
]
LABELLED = [
    {
        "article_id": "a1",
        "sentence_id": 0,
        "text": "Serbia will never join NATO and will keep close ties with Moscow.",
        "russia": "favor",
        "west": "none",
        "eu": "none",
        "nato": "against",
        "voice": "author",
    },
    {
        "article_id": "a1",
        "sentence_id": 1,
        "text": "The alliance condemned the Kremlin's aggression against its neighbours.",
        "russia": "against",
        "west": "none",
        "eu": "none",
        "nato": "neutral",
        "voice": "reported",
    },
    {
        "article_id": "a2",
        "sentence_id": 0,
        "text": "Brussels praised the bloc's unity on sanctions against Russia.",
        "russia": "neutral",
        "west": "none",
        "eu": "favor",
        "nato": "none",
        "voice": "author",
    },
    {
        "article_id": "a2",
        "sentence_id": 1,
        "text": "The weather in Belgrade was mild on Monday.",
        "russia": "none",
        "west": "none",
        "eu": "none",
        "nato": "none",
        "voice": "author",
    },
    {
        "article_id": "a3",
        "sentence_id": 0,
        "text": "Putin said the West was hostile to Russia.",
        "russia": "neutral",
        "west": "against",
        "eu": "none",
        "nato": "none",
        "voice": "reported",
    },
    {
        "article_id": "a3",
        "sentence_id": 1,
        "text": "The European Union is a guarantor of peace on the continent.",
        "russia": "none",
        "west": "none",
        "eu": "favor",
        "nato": "none",
        "voice": "author",
    },
    {
        "article_id": "a4",
        "sentence_id": 0,
        "text": "NATO's secretary general welcomed Finland as the newest member.",
        "russia": "none",
        "west": "none",
        "eu": "none",
        "nato": "favor",
        "voice": "reported",
    },
    {
        "article_id": "a4",
        "sentence_id": 1,
        "text": "Washington and its Western allies accused Moscow of propaganda.",
        "russia": "against",
        "west": "neutral",
        "eu": "none",
        "nato": "none",
        "voice": "reported",
    },
]


def assert_finite_temperatures(model: StanceModel) -> None:
    assert math.isfinite(model.head_specs["stance"].temperature) and math.isfinite(model.head_specs["voice"].temperature)


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def model(tiny_model_dir) -> StanceModel:
    return StanceModel.from_pretrained(tiny_model_dir)


@pytest.fixture(autouse=True)
def torch_runtime(monkeypatch):
    """Compare with the torch model exactly; the ONNX default has a test of its own."""
    monkeypatch.setenv("STANCE_RUNTIME", "torch")


def assert_contract(row: dict, targets: list[str]) -> None:
    assert list(row["stance"]) == targets
    for result in row["stance"].values():
        assert set(result) == {"label", "scores"}
        assert list(result["scores"]) == list(STANCE_LABELS)
        assert all(isinstance(p, float) and 0.0 <= p <= 1.0 for p in result["scores"].values())
        assert sum(result["scores"].values()) == pytest.approx(1.0, abs=1e-5)
        assert result["label"] == max(result["scores"], key=result["scores"].get)
    assert set(row["voice"]) == {"label", "score"}
    assert row["voice"]["label"] in ("author", "reported")
    assert isinstance(row["voice"]["score"], float)


# ---- predict --------------------------------------------------------------------------


def test_predict_keeps_the_rows_and_writes_the_contract(tmp_path, tiny_model_dir, model, capsys):
    source = write_jsonl(tmp_path / "rows.jsonl", INPUT)
    output = tmp_path / "out" / "scored.jsonl"
    assert main(["predict", "--model", str(tiny_model_dir), "--input", str(source), "--output", str(output)]) == 0
    rows = read_jsonl(output)
    assert len(rows) == len(INPUT)
    expected = model.predict([row["text"] for row in INPUT])
    for original, row, prediction in zip(INPUT, rows, expected, strict=True):
        assert set(row) == set(original) | {"stance", "voice"}
        assert {k: row[k] for k in original} == original  # id, text and extra fields unchanged
        assert_contract(row, ["russia", "west", "eu", "nato"])
        for target, result in prediction.stance.items():
            assert row["stance"][target]["label"] == result.label
            assert row["stance"][target]["scores"] == pytest.approx(result.scores, abs=1e-6)
        assert row["voice"] == {"label": prediction.voice.label, "score": pytest.approx(prediction.voice.score, abs=1e-6)}
    assert "3 rows scored" in capsys.readouterr().err
    assert [p.name for p in output.parent.iterdir()] == ["scored.jsonl"], "no temporary file may be left"


def test_predict_limits_targets(tmp_path, tiny_model_dir):
    source = write_jsonl(tmp_path / "rows.jsonl", INPUT)
    output = tmp_path / "scored.jsonl"
    assert main(["predict", "--model", str(tiny_model_dir), "--input", str(source), "--output", str(output), "--targets", "nato,eu"]) == 0
    for row in read_jsonl(output):
        assert_contract(row, ["nato", "eu"])


GATED_ARTICLE = "NATO ministers met.\nThey talked.\nThey ate.\nThey slept.\nThey left.\nRain fell.\n"


def test_predict_split_gates_on_the_article_window_unless_no_gate(tmp_path, tiny_model_dir, model):
    source = write_jsonl(tmp_path / "articles.jsonl", [{"id": "d", "text": GATED_ARTICLE}])
    output = tmp_path / "scored.jsonl"
    assert main(["predict", "--model", str(tiny_model_dir), "--input", str(source), "--output", str(output), "--split"]) == 0
    rows = read_jsonl(output)
    # NATO is named in sentence 0; the window reads 3 sentences back, so sentences 4 and 5 get the prior
    assert [row["stance"]["nato"]["scores"]["none"] == 1.0 for row in rows] == [False] * 4 + [True] * 2
    assert all(row["stance"]["russia"]["scores"]["none"] == 1.0 for row in rows)
    assert main(["predict", "--model", str(tiny_model_dir), "--input", str(source), "--output", str(output), "--split", "--no-gate"]) == 0
    ungated = model.analyze(GATED_ARTICLE, gate=False)
    for row, sentence in zip(read_jsonl(output), ungated.sentences, strict=True):
        for target in row["stance"]:
            assert row["stance"][target]["scores"] == pytest.approx(sentence.stance[target].scores, abs=1e-6)


def test_predict_rows_are_not_gated(tmp_path, tiny_model_dir, model):
    """A lone sentence has no article around it: every pair is scored."""
    source = write_jsonl(tmp_path / "rows.jsonl", [INPUT[1]])
    output = tmp_path / "scored.jsonl"
    assert main(["predict", "--model", str(tiny_model_dir), "--input", str(source), "--output", str(output)]) == 0
    (row,) = read_jsonl(output)
    ungated = model.predict(INPUT[1]["text"], gate=False)
    for target in row["stance"]:
        assert row["stance"][target]["scores"] == pytest.approx(ungated.stance[target].scores, abs=1e-6)
        assert row["stance"][target]["scores"]["none"] < 1.0


def test_predict_split_writes_one_row_per_sentence(tmp_path, tiny_model_dir, model):
    source = write_jsonl(
        tmp_path / "articles.jsonl", [{"id": "doc-1", "outlet": "AP", "text": ARTICLE}, {"id": "doc-2", "text": "Rain fell."}]
    )
    output = tmp_path / "sentences.jsonl"
    assert main(["predict", "--model", str(tiny_model_dir), "--input", str(source), "--output", str(output), "--split"]) == 0
    rows = read_jsonl(output)
    sentences = split_sentences(ARTICLE)
    assert len(rows) == len(sentences) + 1
    analysis = model.analyze(ARTICLE)
    for row, sentence, analyzed in zip(rows[:-1], sentences, analysis.sentences, strict=True):
        assert (row["id"], row["outlet"]) == ("doc-1", "AP")
        assert (row["sentence_index"], row["start"], row["end"], row["text"]) == (
            sentence.index,
            sentence.start,
            sentence.end,
            sentence.text,
        )
        assert ARTICLE[row["start"] : row["end"]] == row["text"]
        assert_contract(row, ["russia", "west", "eu", "nato"])
        for target in row["stance"]:
            assert row["stance"][target]["scores"] == pytest.approx(analyzed.stance[target].scores, abs=1e-6)
    assert (rows[-1]["id"], rows[-1]["sentence_index"], rows[-1]["text"]) == ("doc-2", 0, "Rain fell.")


def test_predict_reads_csv(tmp_path, tiny_model_dir):
    source = tmp_path / "rows.csv"
    with source.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["id", "text"])
        writer.writeheader()
        writer.writerows([{"id": "c1", "text": INPUT[0]["text"]}, {"id": "c2", "text": INPUT[2]["text"]}])
    output = tmp_path / "scored.jsonl"
    assert main(["predict", "--model", str(tiny_model_dir), "--input", str(source), "--output", str(output), "--targets", "eu"]) == 0
    rows = read_jsonl(output)
    assert [row["id"] for row in rows] == ["c1", "c2"]
    for row in rows:
        assert_contract(row, ["eu"])


@pytest.mark.parametrize(
    "bad", [{"id": "x"}, {"id": "x", "text": ""}, {"id": "x", "text": "   "}, {"id": "x", "text": None}, {"id": "x", "text": 5}]
)
def test_predict_row_without_text_fails_with_file_and_line(tmp_path, tiny_model_dir, capsys, bad):
    source = write_jsonl(tmp_path / "rows.jsonl", [INPUT[0], bad, INPUT[2]])
    output = tmp_path / "scored.jsonl"
    assert main(["predict", "--model", str(tiny_model_dir), "--input", str(source), "--output", str(output)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("stance predict: error:")
    assert f"{source}:2" in err
    assert "text" in err
    assert not output.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rows.jsonl"]


def test_predict_skip_bad_rows_scores_the_others_and_counts_them(tmp_path, tiny_model_dir, model, capsys):
    source = write_jsonl(tmp_path / "articles.jsonl", [{"id": "doc-1", "text": ARTICLE}, {"id": "x"}, {"id": "doc-2", "text": "Rain fell."}])
    output = tmp_path / "sentences.jsonl"
    command = ["predict", "--model", str(tiny_model_dir), "--input", str(source), "--output", str(output), "--split", "--skip-bad-rows"]
    assert main([*command, "--rows-per-call", "1"]) == 0
    rows = read_jsonl(output)
    assert [(row["id"], row["sentence_index"]) for row in rows] == [("doc-1", i) for i in range(len(split_sentences(ARTICLE)))] + [("doc-2", 0)]
    for row, analyzed in zip(rows, model.analyze(ARTICLE).sentences, strict=False):
        assert row["stance"]["nato"]["scores"] == pytest.approx(analyzed.stance["nato"].scores, abs=1e-6)
    assert f"2 rows scored: {len(rows)} sentences" in (err := capsys.readouterr().err) and "1 rows without text skipped" in err


def test_predict_failure_leaves_an_existing_output_alone(tmp_path, tiny_model_dir, capsys):
    source = tmp_path / "rows.jsonl"
    source.write_text(json.dumps(INPUT[0]) + "\n{broken\n", encoding="utf-8")
    output = tmp_path / "scored.jsonl"
    output.write_text("previous results\n", encoding="utf-8")
    assert main(["predict", "--model", str(tiny_model_dir), "--input", str(source), "--output", str(output)]) == 2
    assert f"{source}:2" in capsys.readouterr().err
    assert output.read_text(encoding="utf-8") == "previous results\n"


def test_predict_unknown_target_fails_before_writing(tmp_path, tiny_model_dir, capsys):
    source = write_jsonl(tmp_path / "rows.jsonl", INPUT)
    output = tmp_path / "scored.jsonl"
    assert (
        main(["predict", "--model", str(tiny_model_dir), "--input", str(source), "--output", str(output), "--targets", "nato,china"]) == 2
    )
    assert "china" in capsys.readouterr().err
    assert not output.exists()


def test_predict_without_a_model(tmp_path, monkeypatch, capsys):
    source = write_jsonl(tmp_path / "rows.jsonl", INPUT)
    output = tmp_path / "scored.jsonl"
    assert main(["predict", "--model", str(tmp_path / "nope"), "--input", str(source), "--output", str(output)]) == 2
    assert "not a stance model folder" in capsys.readouterr().err
    monkeypatch.setitem(SHIPPED_MODELS, "default", tmp_path / "default")
    assert main(["predict", "--input", str(source), "--output", str(output)]) == 2
    err = capsys.readouterr().err
    assert f"no shipped model at {tmp_path / 'default'}" in err and "stance train" in err
    monkeypatch.setitem(SHIPPED_MODELS, "minilm", tmp_path / "minilm")  # a shipped model by name
    assert main(["predict", "--model", "minilm", "--input", str(source), "--output", str(output)]) == 2
    assert f"no shipped model at {tmp_path / 'minilm'}" in capsys.readouterr().err
    assert not output.exists()


def test_predict_missing_input_file(tmp_path, tiny_model_dir, capsys):
    assert (
        main(["predict", "--model", str(tiny_model_dir), "--input", str(tmp_path / "none.jsonl"), "--output", str(tmp_path / "o.jsonl")])
        == 2
    )
    assert "none.jsonl" in capsys.readouterr().err


# ---- evaluate -------------------------------------------------------------------------


def test_evaluate_writes_metrics(tmp_path, tiny_model_dir, capsys):
    data = write_jsonl(tmp_path / "gold.jsonl", LABELLED)
    out = tmp_path / "eval"
    assert main(["evaluate", "--model", str(tiny_model_dir), "--data", str(data), "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert 0.0 <= metrics["overall"]["f_avg"] <= 1.0
    assert 0.0 <= metrics["overall"]["macro_f1"] <= 1.0
    assert set(metrics["targets"]) == {"russia", "west", "eu", "nato"}
    for entry in metrics["targets"].values():
        assert 0.0 <= entry["f_avg"] <= 1.0
    assert sum(map(sum, metrics["overall"]["confusion_matrix"]["matrix"])) == 4 * len(LABELLED)
    assert len((out / "predictions.jsonl").read_text(encoding="utf-8").splitlines()) == 4 * len(LABELLED)
    assert (out / "confusion_matrix.png").read_bytes().startswith(b"\x89PNG")
    captured = capsys.readouterr()
    assert "overall" in captured.out
    assert "metrics.json" in captured.err


def test_evaluate_limits_targets(tmp_path, tiny_model_dir):
    data = write_jsonl(tmp_path / "gold.jsonl", LABELLED)
    out = tmp_path / "eval"
    assert (
        main(["evaluate", "--model", str(tiny_model_dir), "--data", str(data), "--out", str(out), "--targets", "nato,eu", "--no-gate"]) == 0
    )
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert set(metrics["targets"]) == {"nato", "eu"}
    assert metrics["counts"]["examples"] == 2 * len(LABELLED)


def test_train_gate_sample_drops_pairs_the_gate_skips(tmp_path, tiny_encoder):
    from stance.models import default_targets
    from stance.training.data import gate_skips, load_examples

    data = write_jsonl(tmp_path / "train.jsonl", LABELLED)
    output = tmp_path / "model"
    argv = ["train", "--data", str(data), "--dev-data", str(data), "--output", str(output), "--encoder", str(tiny_encoder)]
    argv += ["--epochs", "1", "--batch-size", "8", "--max-length", "32", "--quiet", "--gate-sample", "0.001", "--seed", "1"]
    assert main(argv) == 0
    skips = gate_skips(load_examples(data, targets=default_targets()), targets=default_targets(), window=(3, 2))
    assert 0 < sum(skips) < len(skips)
    config = json.loads((output / "training_config.json").read_text(encoding="utf-8"))
    assert config["training"]["gate_sample"] == 0.001
    assert config["data"]["train pairs"] == len(skips) - sum(skips)


def test_evaluate_malformed_data_writes_nothing(tmp_path, tiny_model_dir, capsys):
    data = write_jsonl(tmp_path / "gold.jsonl", [LABELLED[0], {**LABELLED[1], "nato": "positive"}])
    out = tmp_path / "eval"
    assert main(["evaluate", "--model", str(tiny_model_dir), "--data", str(data), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"{data}:2" in err and "positive" in err
    assert not out.exists()


# ---- train ----------------------------------------------------------------------------


def test_train_produces_a_loadable_model(tmp_path, tiny_encoder, capsys):
    data = write_jsonl(tmp_path / "train.jsonl", LABELLED)
    output = tmp_path / "model"
    argv = ["train", "--data", str(data), "--output", str(output), "--encoder", str(tiny_encoder)]
    argv += ["--epochs", "1", "--batch-size", "8", "--max-length", "32", "--quiet", "--name", "cli-test", "--last-epoch"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "model written to" in captured.err
    assert "training on" in captured.err
    names = {p.name for p in output.iterdir()}
    assert {"config.json", "model.safetensors", "targets.json", "README.md", "training_config.json"} <= names
    config = json.loads((output / "training_config.json").read_text(encoding="utf-8"))
    assert config["training"]["epochs"] == 1
    assert config["training"]["last_epoch"] is True and config["best_epoch"] is None  # kept, not selected
    assert config["training"]["lora_rank"] == 16  # the default: an adapter
    assert config["data"]["train pairs"] + config["data"]["dev pairs"] == 4 * len(LABELLED)
    # articles are never cut between train and dev
    assert config["data"]["train articles"] + config["data"]["dev articles"] == 4
    assert (output / "README.md").read_text(encoding="utf-8").startswith("# cli-test 0")
    assert "Kept the last epoch (1)." in (output / "README.md").read_text(encoding="utf-8")
    model = StanceModel.from_pretrained(output)
    assert_finite_temperatures(model)
    assert model.settings.model_name == "cli-test"
    assert model.backbone.settings.lora["r"] == 16
    prediction = model.predict(LABELLED[0]["text"], gate=False)
    assert np.isclose(sum(prediction.stance["nato"].scores.values()), 1.0, atol=1e-5)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model", "train.jsonl"]


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (json.dumps(LABELLED[0]) + "\n" + json.dumps({**LABELLED[1], "voice": "narrator"}) + "\n", "unknown voice"),
        (json.dumps(LABELLED[0]) + "\n{not json\n", "bad JSON"),
        (json.dumps(LABELLED[0]) + "\n" + json.dumps({**LABELLED[1], "text": ""}) + "\n", "empty text"),
    ],
)
def test_train_malformed_data_exits_2_and_writes_nothing(tmp_path, tiny_encoder, capsys, content, fragment):
    data = tmp_path / "train.jsonl"
    data.write_text(content, encoding="utf-8")
    output = tmp_path / "model"
    argv = ["train", "--data", str(data), "--output", str(output), "--encoder", str(tiny_encoder), "--epochs", "1", "--quiet"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("stance train: error:")
    assert f"{data}:2" in err and fragment in err
    assert not output.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["train.jsonl"]


def test_train_goes_on_from_a_saved_model(tmp_path, tiny_encoder, capsys):
    data = write_jsonl(tmp_path / "train.jsonl", LABELLED)
    first, second = tmp_path / "first", tmp_path / "second"
    common = ["--data", str(data), "--epochs", "1", "--batch-size", "8", "--quiet"]
    assert main(["train", *common, "--output", str(first), "--encoder", str(tiny_encoder), "--max-length", "32", "--lora-rank", "4"]) == 0
    assert main(["train", *common, "--output", str(second), "--init-model", str(first), "--model-version", "2.1", "--int8-ffn-output"]) == 0
    config = json.loads((second / "training_config.json").read_text(encoding="utf-8"))
    assert config["training"]["init_model"] == str(first)
    saved = json.loads((second / "config.json").read_text(encoding="utf-8"))
    assert saved["model_version"] == "2.1" and saved["options"]["int8_ffn_output"] is True
    assert "int8_ffn_output" not in json.loads((first / "config.json").read_text(encoding="utf-8"))["options"]
    assert (config["training"]["lora_rank"], config["training"]["max_length"]) == (4, 32)  # the model's own, not the defaults
    texts = [row["text"] for row in LABELLED]
    one, two = StanceModel.from_pretrained(first), StanceModel.from_pretrained(second)
    assert one.backbone.settings.encoder == two.backbone.settings.encoder
    # the all-int8 export's smoothing: FFN input ranges measured on the training sentences, saved with the weights
    assert one.ffn_input_max is None and two.ffn_input_max.shape == (2, 64)
    scores = [[p.stance["nato"].scores["favor"] for p in m.predict(texts)] for m in (one, two)]
    assert not np.allclose(scores[0], scores[1], atol=1e-5)
    assert main(["train", *common, "--output", str(tmp_path / "fourth"), "--init-model", str(second)]) == 0
    assert json.loads((tmp_path / "fourth" / "config.json").read_text(encoding="utf-8"))["options"]["int8_ffn_output"] is True  # kept
    capsys.readouterr()
    assert main(["train", *common, "--output", str(tmp_path / "third"), "--init-model", str(first), "--targets-file", "x.json"]) == 2
    assert "--init-model keeps" in capsys.readouterr().err
    assert main(["train", *common, "--output", str(tmp_path / "third"), "--init-model", str(first), "--lora-rank", "8"]) == 2
    assert "drop --lora-rank" in capsys.readouterr().err
    assert not (tmp_path / "third").exists()



def test_train_cut_short_goes_on_with_resume_to_the_model_of_an_uncut_run(tmp_path, tiny_encoder, cut_training, capsys):
    from safetensors.torch import load_file

    data = write_jsonl(tmp_path / "train.jsonl", LABELLED)
    common = ["train", "--data", str(data), "--dev-data", str(data), "--encoder", str(tiny_encoder), "--epochs", "2", "--max-length", "32", "--quiet"]
    assert main([*common, "--output", str(tmp_path / "uncut")]) == 0
    output, checkpoint = tmp_path / "model", tmp_path / "model.checkpoint.pt"
    epochs_begun = cut_training()
    with pytest.raises(KeyboardInterrupt):
        main([*common, "--output", str(output)])
    assert checkpoint.is_file() and not output.exists()
    capsys.readouterr()
    assert main([*common, "--output", str(output)]) == 2  # a checkpoint is never lost to a rerun by mistake
    assert f"{checkpoint} holds an unfinished run: add --resume" in capsys.readouterr().err
    assert main([*common, "--output", str(output), "--resume"]) == 0
    assert len(epochs_begun) == 3  # the resumed run trained its second epoch only
    assert not checkpoint.exists()
    uncut, resumed = load_file(tmp_path / "uncut" / "model.safetensors"), load_file(output / "model.safetensors")
    assert uncut.keys() == resumed.keys() and all(np.array_equal(uncut[k].numpy(), resumed[k].numpy()) for k in uncut)
    history = [json.loads((folder / "training_config.json").read_text(encoding="utf-8"))["history"] for folder in (tmp_path / "uncut", output)]
    assert history[0] == history[1]

def test_a_bad_runtime_in_the_environment_is_named(tmp_path, tiny_model_dir, monkeypatch, capsys):
    monkeypatch.setenv("STANCE_RUNTIME", "tensorrt")
    source = write_jsonl(tmp_path / "rows.jsonl", INPUT)
    assert main(["predict", "--model", str(tiny_model_dir), "--input", str(source), "--output", str(tmp_path / "o.jsonl")]) == 2
    assert "STANCE_RUNTIME='tensorrt'" in capsys.readouterr().err


def test_train_needs_two_articles(tmp_path, tiny_encoder, capsys):
    data = write_jsonl(tmp_path / "train.jsonl", [dict(row, article_id="only") for row in LABELLED[:3]])
    output = tmp_path / "model"
    assert main(["train", "--data", str(data), "--output", str(output), "--encoder", str(tiny_encoder), "--quiet"]) == 2
    assert "two articles" in capsys.readouterr().err
    assert not output.exists()


def test_a_missing_subcommand_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as error:
        main([])
    assert error.value.code == 2
    assert "usage" in capsys.readouterr().err


def test_predict_defaults_to_the_onnx_runtime_when_installed(tmp_path, tiny_model_dir, monkeypatch):
    pytest.importorskip("onnxruntime")
    import shutil

    monkeypatch.delenv("STANCE_RUNTIME")
    model_dir = shutil.copytree(tiny_model_dir, tmp_path / "model")
    source = write_jsonl(tmp_path / "rows.jsonl", INPUT)
    output = tmp_path / "scored.jsonl"
    assert main(["predict", "--model", str(model_dir), "--input", str(source), "--output", str(output)]) == 0
    assert (model_dir / "onnx").is_dir()  # exported on first use
    expected = StanceModel.from_pretrained(model_dir, runtime="onnx").predict([row["text"] for row in INPUT])
    for row, prediction in zip(read_jsonl(output), expected, strict=True):
        assert_contract(row, ["russia", "west", "eu", "nato"])
        for target in row["stance"]:
            assert row["stance"][target]["scores"] == pytest.approx(prediction.stance[target].scores, abs=1e-6)
