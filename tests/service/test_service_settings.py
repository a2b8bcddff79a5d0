"""Limits from ``STANCE_*`` variables and flags, and failing early when there is no model."""

from __future__ import annotations

from pathlib import Path

import pytest
from stance.models.config import SHIPPED_MODELS
from stance.service.settings import ServiceSettings, available_cores, resolve_model_dir


def test_defaults_env_then_overrides():
    settings = ServiceSettings.from_env(
        {"STANCE_MAX_INPUTS": "8", "STANCE_BATCH_WAIT_MS": "2.5", "STANCE_ADMIN_TOKEN": "t", "STANCE_QUEUE_SIZE": "", "OTHER": "x"},
        max_batch=16,
        queue_size=None,
    )
    assert settings.max_inputs == 8 and settings.batch_wait_ms == 2.5 and settings.admin_token == "t"
    assert settings.max_batch == 16 and settings.queue_size == ServiceSettings().queue_size
    assert ServiceSettings.from_env({"STANCE_MAX_INPUTS": "8"}, max_inputs=4).max_inputs == 4
    assert "admin_token" not in settings.limits() and settings.limits()["max_inputs"] == 8


@pytest.mark.parametrize(("env", "message"), [({"STANCE_MAX_BATCH": "lots"}, "STANCE_MAX_BATCH"), ({"STANCE_QUEUE_SIZE": "0"}, "STANCE_QUEUE_SIZE")])
def test_bad_values_name_the_variable(env, message):
    with pytest.raises(ValueError, match=message):
        ServiceSettings.from_env(env)


def test_runtime_choice():
    assert ServiceSettings.from_env({"STANCE_RUNTIME": "torch"}).runtime == "torch"
    assert ServiceSettings().runtime == "auto" and "runtime" not in ServiceSettings().limits()
    with pytest.raises(ValueError, match="STANCE_RUNTIME"):
        ServiceSettings.from_env({"STANCE_RUNTIME": "gpu"})


def test_blank_admin_token_turns_reload_off():
    assert ServiceSettings(admin_token="  ").admin_token is None


def test_threads_default_to_the_cores():
    assert ServiceSettings().threads == available_cores() >= 1
    assert ServiceSettings(torch_threads=3).threads == 3


def test_missing_default_model_fails_with_a_clear_message(monkeypatch, tmp_path):
    monkeypatch.setitem(SHIPPED_MODELS, "default", tmp_path / "default")
    with pytest.raises(FileNotFoundError, match="no shipped model .*stance serve --model DIR"):
        resolve_model_dir(None)
    from stance.service.app import serve

    with pytest.raises(FileNotFoundError, match="no shipped model"):
        serve(model_dir=None, port=0, settings=ServiceSettings())


def test_a_shipped_model_is_served_by_name(monkeypatch, tiny_model_dir):
    monkeypatch.setitem(SHIPPED_MODELS, "minilm", tiny_model_dir)
    assert resolve_model_dir("minilm") == tiny_model_dir


def test_model_dir_errors(tmp_path, tiny_model_dir):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        resolve_model_dir(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="no config.json"):
        resolve_model_dir(tmp_path)
    assert resolve_model_dir(tiny_model_dir) == Path(tiny_model_dir)


def test_cli_serve_reports_a_missing_model(capsys, tmp_path):
    from stance.cli import main

    assert main(["serve", "--model", str(tmp_path / "nope"), "--port", "0"]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_python_m_service_flags(capsys, tmp_path):
    from stance.service.__main__ import main

    assert main(["--model", str(tmp_path / "nope"), "--max-batch", "8"]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["--model", str(tmp_path / "nope"), "--max-batch", "0"]) == 2
    assert "STANCE_MAX_BATCH" in capsys.readouterr().err
