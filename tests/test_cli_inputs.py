"""The command line refuses what it cannot do well, before working, with file:line, and
never destroys what the user had at an output path."""

from __future__ import annotations

import json
import os

import pytest
from jsonl_rows import write_jsonl
from test_cli import INPUT, LABELLED

from stance.cli import main


def run_predict(tiny_model_dir, source, output, *extra):
    return main(["predict", "--model", str(tiny_model_dir), "--input", str(source), "--output", str(output), "--runtime", "torch", *extra])


def test_train_refuses_an_output_folder_holding_its_data_and_checks_before_training(tmp_path, capsys):
    folder = tmp_path / "ds"
    folder.mkdir()
    data = write_jsonl(folder / "rows.jsonl", LABELLED)
    # a missing encoder would fail too, but only once training starts: the output is checked first
    argv = ["train", "--data", str(data), "--output", str(folder), "--encoder", str(tmp_path / "no-encoder"), "--epochs", "1"]
    assert main(argv) == 2
    assert "holds the input" in capsys.readouterr().err
    assert main([*argv, "--overwrite"]) == 2
    assert data.read_text(encoding="utf-8").count("\n") == len(LABELLED)


def test_train_replaces_only_model_folders_unless_overwrite(tmp_path, tiny_encoder, capsys):
    data = write_jsonl(tmp_path / "rows.jsonl", LABELLED)
    output = tmp_path / "out"
    output.mkdir()
    (output / "notes.txt").write_text("mine", encoding="utf-8")
    argv = ["train", "--data", str(data), "--output", str(output), "--encoder", str(tiny_encoder)]
    argv += ["--epochs", "1", "--batch-size", "8", "--max-length", "32", "--quiet"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "is not a stance model folder" in err and "notes.txt" in err and "--overwrite" in err
    assert (output / "notes.txt").read_text(encoding="utf-8") == "mine"
    assert main([*argv, "--overwrite"]) == 0
    assert (output / "config.json").is_file() and not (output / "notes.txt").exists()
    assert main(argv) == 0, "a stance model folder is replaced without --overwrite"


def test_train_output_that_is_a_file_is_refused(tmp_path, capsys):
    data = write_jsonl(tmp_path / "rows.jsonl", LABELLED)
    assert main(["train", "--data", str(data), "--output", str(data)]) == 2
    assert "is a file" in capsys.readouterr().err


def test_predict_reports_every_oversized_or_empty_text_with_file_and_line(tmp_path, tiny_model_dir, capsys):
    rows = [INPUT[0], {"id": "big", "text": "NATO. " * 500}, {"id": "blank", "text": " \t "}, {"id": "zw", "text": "\u200b\u200b"}, INPUT[1]]
    source = write_jsonl(tmp_path / "rows.jsonl", rows)
    output = tmp_path / "scored.jsonl"
    assert run_predict(tiny_model_dir, source, output) == 2
    err = capsys.readouterr().err
    assert f"{source}:2: 'text' has 3000 characters, over the limit of 2000" in err
    assert f"{source}:3: missing or empty 'text'" in err
    assert f"{source}:4: 'text' has nothing to score" in err
    assert not output.exists()
    assert run_predict(tiny_model_dir, source, output, "--max-chars", "4000") == 2
    assert ":2:" not in capsys.readouterr().err


def test_predict_limit_follows_the_server_setting(tmp_path, tiny_model_dir, monkeypatch, capsys):
    monkeypatch.setenv("STANCE_MAX_INPUT_CHARS", "20")
    source = write_jsonl(tmp_path / "rows.jsonl", INPUT[:1])
    assert run_predict(tiny_model_dir, source, tmp_path / "o.jsonl") == 2
    assert "over the limit of 20" in capsys.readouterr().err


def test_predict_reports_every_bad_line_not_only_the_first(tmp_path, tiny_model_dir, capsys):
    source = tmp_path / "rows.jsonl"
    source.write_bytes(b'{"text": "fine words"}\n{broken\n' + b'{"text": "caf\xe9"}\n' + b"[1]\n")
    assert run_predict(tiny_model_dir, source, tmp_path / "o.jsonl") == 2
    err = capsys.readouterr().err
    assert f"{source}:2: bad JSON" in err
    assert f"{source}:3: not UTF-8 text (byte 0xe9" in err
    assert f"{source}:4: expected a JSON object" in err


def test_predict_folder_as_input_is_named(tmp_path, tiny_model_dir, capsys):
    assert run_predict(tiny_model_dir, tmp_path, tmp_path / "o.jsonl") == 2
    assert "is a folder" in capsys.readouterr().err


def test_predict_csv_with_a_byte_order_mark_keeps_the_id_column(tmp_path, tiny_model_dir):
    source = tmp_path / "rows.csv"
    source.write_text("\ufeffid,text\nr1,Serbia will never join NATO.\n", encoding="utf-8")
    output = tmp_path / "scored.jsonl"
    assert run_predict(tiny_model_dir, source, output) == 0
    (row,) = [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines()]
    assert row["id"] == "r1" and "\ufeffid" not in row


@pytest.mark.parametrize("case", ["folder", "parent is a file", "same as input"])
def test_predict_bad_output_paths_are_clear_errors_and_touch_nothing(tmp_path, tiny_model_dir, capsys, case):
    source = write_jsonl(tmp_path / "rows.jsonl", INPUT)
    before = source.read_bytes()
    output = {"folder": tmp_path, "parent is a file": source / "scored.jsonl", "same as input": source}[case]
    assert run_predict(tiny_model_dir, source, output) == 2
    err = capsys.readouterr().err
    assert "error:" in err and "Traceback" not in err
    assert source.read_bytes() == before


def test_predict_output_has_ordinary_permissions(tmp_path, tiny_model_dir):
    source = write_jsonl(tmp_path / "rows.jsonl", INPUT)
    previous = os.umask(0o022)
    try:
        assert run_predict(tiny_model_dir, source, tmp_path / "scored.jsonl") == 0
    finally:
        os.umask(previous)
    assert (tmp_path / "scored.jsonl").stat().st_mode & 0o777 == 0o644


def test_evaluate_with_truncated_weights_is_a_clear_error(tmp_path, tiny_model_dir, capsys):
    import shutil

    broken = tmp_path / "model"
    shutil.copytree(tiny_model_dir, broken)
    weights = broken / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    data = write_jsonl(tmp_path / "rows.jsonl", LABELLED)
    assert main(["evaluate", "--model", str(broken), "--data", str(data), "--out", str(tmp_path / "eval")]) == 2
    assert f"cannot load the model from {broken}" in capsys.readouterr().err


def test_serve_port_out_of_range_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["serve", "--port", "99999"])
    assert exit_info.value.code == 2
    assert "a TCP port is 0-65535" in capsys.readouterr().err


def test_train_refuses_a_row_without_a_word(tmp_path, capsys):
    rows = [LABELLED[0], {**LABELLED[1], "text": "?! ... \u200b"}]
    data = write_jsonl(tmp_path / "rows.jsonl", rows)
    assert main(["train", "--data", str(data), "--output", str(tmp_path / "model")]) == 2
    assert f"{data}:2: empty text (no letter or digit)" in capsys.readouterr().err
    assert not (tmp_path / "model").exists()
