"""Property-based run of the whole API against its own OpenAPI document (schemathesis,
in-process over the tiny model): no 5xx, every answer in the documented shape and status,
valid bodies accepted, invalid ones refused. Bounded to stay well under a minute; the long
run is ``make fuzz`` (benchmarks/fuzz_api.py, figures in BENCHMARKS.md)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis.errors import Unsatisfiable  # noqa: E402
from schemathesis.config import SchemathesisConfig  # noqa: E402
from schemathesis.generation import GenerationMode  # noqa: E402
from stance.service.app import create_app  # noqa: E402
from svc_helpers import settings_for  # noqa: E402

EXAMPLES = int(os.environ.get("STANCE_FUZZ_EXAMPLES", "50"))  # per operation


@pytest.fixture(scope="module")
def api_schema(tiny_model_dir, tiny_model):
    app = create_app(settings_for(tiny_model_dir, max_article_chars=5_000), loader=lambda directory: tiny_model)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=SchemathesisConfig.from_path(Path(__file__).resolve().parents[2] / "schemathesis.toml"))  # starts the app's lifespan, kept for the module
    assert app.state.service.loaded.wait(60), "the model did not load"
    return schema


def answers_as_documented(operation, mode) -> None:
    @given(case=operation.as_strategy(mode))
    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck), database=None)
    def check(case):
        case.call_and_validate()

    try:
        check()
    except Unsatisfiable:  # no invalid request exists (a GET without parameters)
        assert mode is GenerationMode.NEGATIVE


def test_the_api_answers_as_documented(api_schema):
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert {op.label for op in operations} >= {"POST /v1/predict", "POST /v1/analyze", "GET /v1/info", "GET /readyz"}
    for operation in operations:
        for mode in GenerationMode:
            answers_as_documented(operation, mode)
