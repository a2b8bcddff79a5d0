"""The project installs under one import name, so a user's own ``models/`` cannot shadow it."""

from __future__ import annotations

import subprocess
import sys


def test_a_working_directory_with_its_own_models_package_does_not_shadow_ours(tmp_path):
    for name in ("models", "training", "service"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text("raise ImportError('the user package was imported')\n")
    code = "from stance.models import StanceModel; import stance.training.data, stance.service.settings; print(StanceModel.__module__)"
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "stance.models.modeling"


def test_no_top_level_packages_are_installed():
    code = "import importlib.util, sys; sys.path = [p for p in sys.path if p not in ('', '.')]; print([n for n in ('models', 'training', 'service') if importlib.util.find_spec(n)])"
    result = subprocess.run([sys.executable, "-c", code], cwd="/", capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "[]", result.stdout + result.stderr
