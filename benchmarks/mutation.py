"""Mutation score of chosen modules with mutmut, run in a scratch copy of the repository.

mutmut mutates a copy of the sources under ``mutants/`` and imports it from there; this
project's editable install maps ``stance.models`` to ``models/`` and would import the
originals instead, so the copy is laid out as the installed package (``stance/models``,
``stance/training``, ...) in a temporary folder. Prints mutmut's summary and the score
(killed, incl. timeouts, over all mutants tested).

    python -m benchmarks.mutation                                   # the modules and tests below
    python -m benchmarks.mutation --modules models/predictions.py --tests tests/models/test_scores_and_summary.py
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {"stance": "stance", "models": "stance/models", "training": "stance/training", "service": "stance/service"}
MODULES = ["models/predictions.py", "models/validation.py"]
TESTS = ["tests/models/test_scores_and_summary.py", "tests/models/test_model_config.py", "tests/models/test_modeling.py"]


def shadow(scratch: Path, modules: list[str], tests: list[str]) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "onnx", "*.pyc")
    for source, target in PACKAGES.items():
        shutil.copytree(ROOT / source, scratch / target, ignore=ignore, dirs_exist_ok=True)
    for folder in ("tests", "seeds"):
        shutil.copytree(ROOT / folder, scratch / folder, ignore=ignore)
    mutate = [PACKAGES[m.split("/", 1)[0]] + "/" + m.split("/", 1)[1] for m in modules]
    (scratch / "pyproject.toml").write_text(
        "[tool.mutmut]\n"
        'source_paths = ["stance"]\n'
        f"only_mutate = {mutate!r}\n".replace("'", '"')
        + f"pytest_add_cli_args_test_selection = {tests!r}\n".replace("'", '"')
        + 'pytest_add_cli_args = ["-p", "no:warnings", "-x", "-q"]\n\n'
        "[tool.pytest.ini_options]\n"
        'testpaths = ["tests"]\n'
        'filterwarnings = ["ignore::FutureWarning", "ignore::DeprecationWarning"]\n',
        encoding="utf-8",
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modules", nargs="+", default=MODULES, help="files under models/ or training/ to mutate")
    parser.add_argument("--tests", nargs="+", default=TESTS, help="the tests that should catch the mutants")
    parser.add_argument("--children", type=int, default=2)
    parser.add_argument("--budget-s", type=float, help="stop mutmut after this many seconds and score the mutants it tested")
    parser.add_argument("--keep", type=Path, help="run in this (new) folder and keep it, to read survivors with `mutmut show NAME` there")
    args = parser.parse_args()
    mutmut = Path(sys.executable).with_name("mutmut")
    with contextlib.nullcontext(str(args.keep)) if args.keep else tempfile.TemporaryDirectory(prefix="stance-mutation-") as scratch:
        shadow(Path(scratch), args.modules, args.tests)
        run = subprocess.Popen([str(mutmut), "run", "--max-children", str(args.children)], cwd=scratch, stdout=subprocess.DEVNULL, start_new_session=True)
        try:
            run.wait(timeout=args.budget_s)
        except subprocess.TimeoutExpired:  # the mutants not reached stay "not checked" and out of the score
            os.killpg(run.pid, signal.SIGTERM)
            run.wait()
        listing = subprocess.run([str(mutmut), "results", "--all", "true"], cwd=scratch, capture_output=True, text=True).stdout
    outcomes = Counter(line.rsplit(":", 1)[1].strip() for line in listing.splitlines() if ":" in line)
    killed = outcomes["killed"] + outcomes["timeout"]
    tested = killed + outcomes["survived"]
    print(f"mutants: {sum(outcomes.values())}; " + ", ".join(f"{k} {v}" for k, v in outcomes.most_common()))
    print(f"mutation score: {killed}/{tested} = {killed / tested:.1%}" if tested else "no mutant was tested")
    for line in listing.splitlines():
        if line.rstrip().endswith("survived"):
            print("  survived:", line.split(":")[0].strip())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
