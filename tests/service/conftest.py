"""Fixtures for the HTTP service: apps over the tiny random model and a second model to
swap in. Queue and swap tests hold the model with ``svc_helpers.GatedModel`` events, not timing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from stance.service.app import create_app
from svc_helpers import SEED_ARTICLE, running, settings_for

OTHER_DEV_METRICS = {"overall": {"f_avg": 0.5, "macro_f1": 0.4, "accuracy": 0.7, "ece": 0.05}, "targets": {}, "voice_accuracy": 0.9}


@pytest.fixture(scope="session")
def tiny_model(tiny_model_dir):
    from stance.models import StanceModel

    return StanceModel.from_pretrained(tiny_model_dir)


@pytest.fixture(scope="session")
def other_model_dir(tiny_model_dir, tmp_path_factory) -> Path:
    """The tiny model renamed to version 2 with a head that always says ``against``, plus
    dev metrics in its training_config.json: a swap to it is visible in every answer."""
    import torch
    from stance.models import StanceModel

    model = StanceModel.from_pretrained(tiny_model_dir)
    model.settings.model_name = "tiny-other"
    model.settings.model_version = "2"
    with torch.no_grad():
        model.heads["stance"].weight.zero_()
        model.heads["stance"].bias.copy_(torch.tensor([0.0, 5.0, 0.0, 0.0]))
    directory = tmp_path_factory.mktemp("other-model") / "model"
    model.save_pretrained(
        directory,
        model_card="# other tiny model\n",
        extra_files={"training_config.json": json.dumps({"dev_metrics": OTHER_DEV_METRICS})},
    )
    return directory


@pytest.fixture(scope="session")
def seed_article() -> str:
    return SEED_ARTICLE.read_text(encoding="utf-8")


@pytest.fixture
def make_app(tiny_model_dir, tiny_model):
    """``make_app(**settings)``: an app over the shared tiny model (loaded once per session)."""

    def make(*, loader=None, model_dir=None, **overrides):
        return create_app(settings_for(model_dir or tiny_model_dir, **overrides), loader=loader or (lambda directory: tiny_model))

    return make


@pytest.fixture
def client(make_app) -> Iterator[TestClient]:
    with running(make_app()) as client:
        yield client
