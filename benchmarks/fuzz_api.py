"""Long property-based run of the API against its OpenAPI document (``make fuzz``).

Serves a model in-process (the shipped default by default, on the runtime the server would
use), generates ``--examples`` valid and as many invalid cases per operation with schemathesis (valid and invalid
bodies, headers, query strings), sends each, and runs every schemathesis check on the
answer. Prints a table: cases, answers by status class, server errors (5xx) and failed
checks by kind (schema violations, valid data refused, invalid data accepted, ...).
Exit status 1 when any case got a 5xx or failed a check.

    python -m benchmarks.fuzz_api                          # 300 + 300 cases per operation
    python -m benchmarks.fuzz_api --examples 2000 --model runs/my-model --runtime torch
"""

from __future__ import annotations

import argparse
import contextlib
import platform
import time
from collections import Counter
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.config import SchemathesisConfig
from schemathesis.core.failures import FailureGroup
from schemathesis.generation import GenerationMode
from stance.service.app import create_app
from stance.service.settings import ServiceSettings


def run(*, model_dir: str | None, runtime: str, examples: int) -> int:
    app = create_app(ServiceSettings(model_dir=model_dir, runtime=runtime))
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=SchemathesisConfig.from_path(Path(__file__).resolve().parents[1] / "schemathesis.toml"))
    if not app.state.service.loaded.wait(600) or app.state.service.current is None:
        raise SystemExit(f"the model did not load: {app.state.service.load_error}")
    statuses: Counter[str] = Counter()
    failures: Counter[str] = Counter()
    per_operation: dict[str, int] = {}
    shown: dict[str, str] = {}
    started = time.perf_counter()
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in GenerationMode:
            cases = _fuzz(operation, mode, examples=examples, statuses=statuses, failures=failures, shown=shown)
            if cases:
                per_operation[f"{operation.label} ({mode.value})"] = cases
    seconds = time.perf_counter() - started
    total = sum(per_operation.values())
    print(f"API fuzz, {platform.processor() or platform.machine()}, {time.strftime('%Y-%m-%d')}: "
          f"model {model_dir or 'default'}, runtime {runtime}, {seconds:.0f} s")  # fmt: skip
    print()
    print("| operation | cases |")
    print("| --- | --- |")
    for label, cases in per_operation.items():
        print(f"| {label} | {cases:,} |")
    print(f"| **all** | **{total:,}** |")
    print()
    print("| answers | " + " | ".join(sorted(statuses)) + " | 5xx | failed checks |")
    print("| --- | " + " | ".join("---" for _ in statuses) + " | --- | --- |")
    failed = sum(v for k, v in failures.items() if k != "server error (5xx)")
    print(f"| {total:,} | " + " | ".join(f"{statuses[k]:,}" for k in sorted(statuses)) + f" | {failures['server error (5xx)']} | {failed} |")
    for title, count in failures.most_common():
        print(f"- {title}: {count}  e.g. {shown.get(title, '')}")
    return 1 if failures else 0


def _fuzz(operation, mode: GenerationMode, *, examples: int, statuses: Counter, failures: Counter, shown: dict) -> int:
    """Send up to ``examples`` generated cases to one operation; returns how many were sent."""
    cases = 0

    @given(case=operation.as_strategy(mode))
    @settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def check(case):
        nonlocal cases
        cases += 1
        response = case.call()
        statuses[f"{response.status_code // 100}xx"] += 1
        if response.status_code >= 500:
            failures["server error (5xx)"] += 1
        try:
            case.validate_response(response)
        except FailureGroup as group:
            for failure in group.exceptions:
                failures[failure.title] += 1
                shown.setdefault(failure.title, f"{operation.label}: {case.as_curl_command()[:3000]}")

    with contextlib.suppress(Unsatisfiable):  # no invalid request exists (a GET without parameters)
        check()
    return cases


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="model folder (default: the shipped default model)")
    parser.add_argument("--runtime", default="auto", choices=["auto", "torch", "onnx"])
    parser.add_argument("--examples", type=int, default=300, help="cases per operation, valid and invalid each")
    args = parser.parse_args()
    return run(model_dir=args.model, runtime=args.runtime, examples=args.examples)


if __name__ == "__main__":
    raise SystemExit(main())
