"""The six mutants an outside review found no test noticing, applied one at a time: each must
now make its tests fail ("killed"). A mutant is an exact text replacement in the source, so
the script stops with an error when the code it names has moved (update the line, keep the
mutant). The file is always restored.

    python -m benchmarks.named_mutants
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MUTANTS = [
    ("best epoch never restored", "training/trainer.py", "            model.load_state_dict(best_state, strict=False)\n", "            pass\n", "tests/training/test_trainer_selection.py"),
    ("last epoch always kept", "training/trainer.py", "                if metrics[\"overall\"][\"f_avg\"] > best_score:", "                if True:", "tests/training/test_trainer_selection.py"),
    ("voice temperature ignored", "models/modeling.py", "softmax(voice_logits / self.settings.voice_temperature, axis=-1)", "softmax(voice_logits, axis=-1)", "tests/models/test_scores_and_summary.py"),
    ("evaluator gate window swapped", "training/evaluation.py", "before=model.settings.gate_window[0], after=model.settings.gate_window[1]", "before=model.settings.gate_window[1], after=model.settings.gate_window[0]", "tests/training/test_evaluation.py"),
    ("evidence 3 -> 2", "models/predictions.py", "EVIDENCE_PER_TARGET = 3", "EVIDENCE_PER_TARGET = 2", "tests/models/test_scores_and_summary.py tests/models/test_modeling.py"),
    ("service target check does nothing", "service/app.py", "    if names is None:\n        return None\n    try:", "    if names is not None:\n        return list(names)\n    try:", "tests/service/test_service_errors.py"),
]


def main() -> int:
    survived = 0
    for name, path, old, new, tests in MUTANTS:
        source = ROOT / path
        original = source.read_text(encoding="utf-8")
        if original.count(old) != 1:
            raise SystemExit(f"{name}: the line to mutate is no longer in {path} exactly once; update the mutant")
        source.write_text(original.replace(old, new), encoding="utf-8")
        try:
            command = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:warnings", *tests.split()]
            failed = subprocess.run(command, cwd=ROOT, capture_output=True).returncode != 0
        finally:
            source.write_text(original, encoding="utf-8")
        survived += not failed
        print(f"{name}: {'killed' if failed else 'SURVIVED'}", flush=True)
    return 1 if survived else 0


if __name__ == "__main__":
    raise SystemExit(main())
