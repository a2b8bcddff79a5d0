"""A loaded model together with what ``/v1/info`` says about it, kept as one object so a
hot swap replaces weights, targets and card metrics in a single reference assignment."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stance.service.settings import resolve_model_dir

log = logging.getLogger("stance.service")

ModelLoader = Callable[[Path], Any]  # folder -> object with predict / analyze / targets / settings


@dataclass(frozen=True)
class LoadedModel:
    model: Any
    directory: Path
    dev_metrics: dict | None = None
    card_title: str | None = None
    loaded_at: float = field(default_factory=time.time)

    @property
    def name(self) -> str:
        return str(self.model.settings.model_name)

    @property
    def version(self) -> str:
        return str(self.model.settings.model_version)

    def identity(self) -> dict[str, str]:
        return {"name": self.name, "version": self.version}

    def describe(self) -> dict[str, Any]:
        settings = self.model.settings
        return {
            "name": self.name,
            "version": self.version,
            "directory": str(self.directory),
            "encoder": dict(settings.encoder),
            "adapter": dict(settings.lora) if settings.lora else None,
            "max_length": settings.max_length,
            "runtime": "onnx" if getattr(self.model, "runtime", None) is not None else "torch",
            "gate": {"on": bool(settings.gate), "window": list(settings.gate_window)},
            "card": self.card_title,
            "loaded_at": self.loaded_at,
        }


def model_loader(runtime: str = "torch") -> ModelLoader:
    """``StanceModel.from_pretrained`` with a runtime (``torch`` or ``onnx``)."""

    def load(directory: Path) -> Any:
        from stance.models import StanceModel

        return StanceModel.from_pretrained(directory, runtime=runtime)

    return load


def load_model(model_dir: str | Path | None, *, loader: ModelLoader) -> LoadedModel:
    """Load a model folder fully (weights, targets, card metrics); raises on any problem."""
    directory = resolve_model_dir(model_dir)
    started = time.perf_counter()
    model = loader(directory)
    _warm_up(model)
    loaded = LoadedModel(model=model, directory=directory, dev_metrics=_dev_metrics(directory), card_title=_card_title(directory))
    log.info("loaded model %s %s from %s in %.1fs", loaded.name, loaded.version, directory, time.perf_counter() - started)
    return loaded


def _warm_up(model: Any) -> None:
    """One real forward pass before the model may serve, so a model that loads but cannot
    run fails here (and a reload leaves the old one serving) rather than on a request."""
    probe = " ".join(target.query for target in model.targets.values())  # mentions every target: no gate skips it
    model.predict([probe])


def _dev_metrics(directory: Path) -> dict | None:
    path = directory / "training_config.json"
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8")).get("dev_metrics")
    except (OSError, ValueError, AttributeError) as error:
        log.warning("cannot read %s: %s", path, error)
        return None


def _card_title(directory: Path) -> str | None:
    """The model card's first heading, a human name for the model."""
    path = directory / "README.md"
    if not path.is_file():
        return None
    try:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.startswith("#"):
                return line.lstrip("#").strip() or None
    except OSError:
        return None
    return None
