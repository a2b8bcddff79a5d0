"""A loaded model together with what ``/v1/info`` says about it, kept as one object so a
hot swap replaces weights, targets and card metrics in a single reference assignment."""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stance.service.schemas import example_article
from stance.service.settings import resolve_model_dir

log = logging.getLogger("stance.service")

ModelLoader = Callable[[Path], Any]  # folder -> object with predict / analyze / targets / settings


@dataclass(frozen=True)
class LoadedModel:
    model: Any
    directory: Path
    dev_metrics: dict | None = None
    card_title: str | None = None
    pairs_per_second: float | None = None  # measured on the smoke-test article at load; admission starts from it
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
        settings, backbone = self.model.settings, self.model.backbone.settings
        return {
            "name": self.name,
            "version": self.version,
            "directory": str(self.directory),
            "encoder": dict(backbone.encoder),
            "adapter": dict(backbone.lora) if backbone.lora else None,
            "max_length": backbone.max_length,
            "reader": settings.reader,
            "runtime": "onnx" if getattr(self.model, "runtime", None) is not None else "torch",
            "gate": {"on": bool(settings.gate), "window": list(settings.gate_window)},
            "card": self.card_title,
            "loaded_at": self.loaded_at,
        }


def model_loader(runtime: str = "torch", *, export: bool = True) -> ModelLoader:
    """``StanceModel.from_pretrained`` with a runtime (``torch`` or ``onnx``); ``export=False``
    (admin reloads) loads an ONNX model only from an existing export of its weights."""

    def load(directory: Path) -> Any:
        from stance.models import StanceModel

        return StanceModel.from_pretrained(directory, runtime=runtime, export=export)

    return load


def load_model(model_dir: str | Path | None, *, loader: ModelLoader) -> LoadedModel:
    """Load a model folder fully (weights, targets, card metrics); raises on any problem."""
    directory = resolve_model_dir(model_dir)
    started = time.perf_counter()
    model = loader(directory)
    pairs_per_second = _smoke_test(model)
    loaded = LoadedModel(
        model=model, directory=directory, dev_metrics=_dev_metrics(directory), card_title=_card_title(directory), pairs_per_second=pairs_per_second
    )
    log.info("loaded model %s %s from %s in %.1fs", loaded.name, loaded.version, directory, time.perf_counter() - started)
    return loaded


def _smoke_test(model: Any) -> float:
    """Real work before the model may serve: one sentence naming every target, then the
    example article, whose answers must be probabilities. A model that loads but cannot run,
    or answers NaN, fails here (and a reload leaves the old one serving) rather than on
    requests. Returns the article's speed in (sentence, target) pairs per second."""
    probe = " ".join(target.query for target in model.targets.values())  # mentions every target: no gate skips it
    model.predict([probe])  # also the first run, which is slower than the rest
    started = time.perf_counter()
    (analysis,) = model.analyze_many([example_article()])
    elapsed = time.perf_counter() - started
    for sentence in analysis.sentences:
        for name, result in sentence.stance.items():
            scores = list(result.scores.values())
            if not all(math.isfinite(p) and 0.0 <= p <= 1.0 for p in scores) or abs(sum(scores) - 1.0) > 1e-3:
                raise ValueError(f"the model answers {result.scores} for target {name!r} on the example article: not probabilities")
    pairs = len(analysis.sentences) * len(model.targets)
    return pairs / elapsed if elapsed > 0 else float(pairs)


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


@dataclass(frozen=True)
class LoadedFraming:
    """The frames and narratives models served beside the stance model (an ``ArticleReader``), and
    why each task that is not served is unavailable. Loaded once at start-up; a reload of the
    stance model keeps them."""

    reader: Any | None
    unavailable: dict[str, str] = field(default_factory=dict)

    @property
    def tasks(self) -> list[str]:
        return self.reader.tasks if self.reader is not None else []

    def describe(self) -> dict[str, dict[str, Any]]:
        """Per article task: whether it is served, its model and label set, or why not."""
        described: dict[str, dict[str, Any]] = {task: {"available": False, "reason": reason} for task, reason in self.unavailable.items()}
        for task in self.tasks:
            model = self.reader.models[task]
            labelset = model.labelset
            described[task] = {
                "available": True,
                "model": {
                    "name": model.model_name,
                    "version": model.model_version,
                    "directory": str(self.reader.directories.get(task, "")),
                    "encoder": dict(model.backbone.settings.encoder),
                    "frozen_encoder": bool(model.backbone.settings.frozen),
                    "max_length": model.backbone.settings.max_length,
                    "runtime": self.reader.runtime_of(task),
                },
                "labels": [{"name": label, "description": labelset.descriptions.get(label, "")} for label in labelset.labels],
                "fallback": labelset.fallback,
            }
        return described


def load_framing(folders: dict[str, Path], unavailable: dict[str, str], *, runtime: str) -> LoadedFraming:
    """Each folder loaded on its own, so one that fails leaves the other task served; the reader
    is smoke-tested on the example article (its scores must be probabilities)."""
    from stance.models.framing import ArticleReader

    unavailable = dict(unavailable)
    models, loaded_from = [], {}
    for task, directory in folders.items():
        try:
            model = ArticleReader.load_member(directory, runtime=runtime)
            if model.task != task:
                raise ValueError(f"it holds a {model.task} model, not a {task} model")
        except Exception as error:
            unavailable[task] = f"the {task} model could not be loaded from {directory}: {error}"
            log.error("%s", unavailable[task])
            continue
        models.append(model)
        loaded_from[task] = directory
    if not models:
        return LoadedFraming(reader=None, unavailable=unavailable)
    started = time.perf_counter()
    reader = ArticleReader(models, runtime=runtime, directories=loaded_from)
    (results,) = reader.analyze_many([example_article()])
    for task, result in results.items():
        if not all(math.isfinite(p) and 0.0 <= p <= 1.0 for p in result.scores.values()):
            raise ValueError(f"the {task} model answers {result.scores} on the example article: not probabilities")
    log.info("loaded %s in %.1fs", ", ".join(f"{m.task} {m.model_name} {m.model_version}" for m in models), time.perf_counter() - started)
    return LoadedFraming(reader=reader, unavailable=unavailable)
