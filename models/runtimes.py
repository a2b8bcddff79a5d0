"""The runtimes a model can score through, named in one place that imports no torch, so the
service settings and the command line check a name without loading a model."""

from __future__ import annotations

import importlib.util

RUNTIMES = ("auto", "torch", "onnx")  # auto: onnx when the `fast` extra is installed, else torch
ONNX_PACKAGES = ("onnx", "onnxruntime")
ARTICLES_PER_PASS = 32  # articles one ``analyze_many`` call scores (``predict --split``, label selection): full batches, bounded memory


def missing_onnx_packages() -> list[str]:
    return [name for name in ONNX_PACKAGES if importlib.util.find_spec(name) is None]


def onnx_installed() -> bool:
    """Whether the ``fast`` extra (onnx, onnxruntime) is installed."""
    return not missing_onnx_packages()


def check_runtime(name: str, *, setting: str = "runtime") -> str:
    """``name`` when it is a runtime; else a ValueError that names ``setting`` and the choices."""
    if name not in RUNTIMES:
        raise ValueError(f"{setting}={name!r} is not a runtime; choose one of {', '.join(RUNTIMES)}")
    return name


def resolve_runtime(name: str) -> str:
    """The runtime ``name`` stands for on this machine: ``torch`` or ``onnx``."""
    check_runtime(name)
    if name == "auto":
        return "onnx" if onnx_installed() else "torch"
    return name
