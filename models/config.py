"""A model folder's ``config.json``: the encoder's Hugging Face config, plus what this project
adds: ``format_version``, the ``task``, the ``backbone`` (encoder source, length, LoRA, pooling),
the ``heads`` (labels, activation, calibration), task ``options`` and the model's name and version.

Folders written before ``format_version`` existed (a ``stance`` section, fixed stance and voice
heads) are read as they are, and ``migrate_folder`` rewrites one in the current form. Reading
a config imports no torch.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from stance.models.heads import HeadSpec, head_table
from stance.models.validation import check_config

FORMAT_VERSION = 2
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
TARGETS_NAME = "targets.json"
# Keys of a model's own fields in config.json; the rest is the encoder's Hugging Face config.
OWN_KEYS = ("format_version", "task", "backbone", "heads", "options", "model_name", "model_version")
# Weight names of the first format -> now: the encoder moved under the backbone, heads into one table.
LEGACY_WEIGHT_PREFIXES = {"encoder.": "backbone.encoder.", "stance_head.": "heads.stance.", "voice_head.": "heads.voice."}
LEGACY_HEAD_LABELS = {"stance": ("favor", "against", "neutral", "none"), "voice": ("author", "reported")}
LEGACY_OPTIONS = ("gate", "gate_window", "gate_prior")
# The stance models shipped in the package, by the name `--model` and ``from_pretrained`` take.
DEFAULT_MODEL_DIR = Path(__file__).with_name("default")
# ``accurate`` is the default's name from before it became the default (1.2.0).
SHIPPED_MODELS = {"default": DEFAULT_MODEL_DIR, "minilm": Path(__file__).with_name("minilm"), "accurate": DEFAULT_MODEL_DIR}


def model_folder(name_or_path: str | os.PathLike | None) -> Path:
    """The folder of a shipped model's name (``SHIPPED_MODELS``; None: the default), else the path
    itself: a folder of yours named like a shipped model is ``./minilm``."""
    if not name_or_path:
        return SHIPPED_MODELS["default"]
    return SHIPPED_MODELS.get(str(name_or_path), Path(name_or_path))


@dataclass
class ModelConfig:
    task: str
    backbone: dict  # BackboneSettings as a dict
    heads: list[HeadSpec]
    options: dict = field(default_factory=dict)
    model_name: str = "stance-model"
    model_version: str = "0"
    legacy: bool = False  # read from the first format: weights carry the old names

    def own_fields(self) -> dict:
        return {
            "format_version": FORMAT_VERSION,
            "task": self.task,
            "backbone": self.backbone,
            "heads": [head.to_dict() for head in self.heads],
            "options": self.options,
            "model_name": self.model_name,
            "model_version": self.model_version,
        }

    def to_json(self, encoder_config: Mapping) -> dict:
        """config.json: the encoder's config, ``id2label`` / ``problem_type`` of the first head (as
        transformers' pipelines read them), then the model's own fields."""
        first = self.heads[0]
        data = {k: v for k, v in encoder_config.items() if k not in OWN_KEYS and k not in ("stance", "voice_labels", "_name_or_path")}
        data.update(
            id2label=dict(enumerate(first.labels)),
            label2id={label: i for i, label in enumerate(first.labels)},
            problem_type="multi_label_classification" if first.multi_label else "single_label_classification",
        )
        data.update(self.own_fields())
        return data


def read_config(directory: str | os.PathLike) -> tuple[ModelConfig, dict]:
    """The model config of a folder and the raw JSON (the encoder's config is in it too)."""
    path = Path(directory) / CONFIG_NAME
    if not path.is_file():
        raise FileNotFoundError(f"{Path(directory)} is not a stance model folder (no config.json)")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not valid JSON ({error})") from error
    check_config(raw, folder=directory)  # every field named with the folder before anything is built from it
    return parse_config(raw, origin=str(path)), raw


def parse_config(raw: Mapping, *, origin: str = CONFIG_NAME) -> ModelConfig:
    if "format_version" not in raw:
        if "stance" not in raw:
            raise ValueError(f"{origin} has no 'stance' section and no 'format_version': not a stance model folder")
        return _legacy_config(raw["stance"])
    version = raw["format_version"]
    if version != FORMAT_VERSION:
        raise ValueError(f"{origin}: format_version {version!r}; this version of stance-service reads {FORMAT_VERSION}")
    try:
        return ModelConfig(
            task=raw["task"],
            backbone=dict(raw["backbone"]),
            heads=list(head_table([HeadSpec.from_dict(head) for head in raw["heads"]]).values()),
            options=dict(raw.get("options") or {}),
            model_name=str(raw.get("model_name", "stance-model")),
            model_version=str(raw.get("model_version", "0")),
        )
    except (KeyError, TypeError) as error:
        raise ValueError(f"{origin}: missing or malformed {error}") from error


def _legacy_config(section: Mapping) -> ModelConfig:
    """The first format: one ``stance`` section with both temperatures and the gate."""
    return ModelConfig(
        task="stance",
        backbone={"encoder": section["encoder"], "max_length": section.get("max_length", 128), "lora": section.get("lora"), "pooling": "mean"},
        heads=[
            HeadSpec(name, labels, temperature=float(section.get(f"{name}_temperature", 1.0))) for name, labels in LEGACY_HEAD_LABELS.items()
        ],
        options={key: section[key] for key in LEGACY_OPTIONS if key in section},
        model_name=section.get("model_name", "stance-model"),
        model_version=section.get("model_version", "0"),
        legacy=True,
    )


def rename_legacy_weights(weights: dict) -> dict:
    """Weights of a first-format folder under today's names."""
    renamed = {}
    for key, value in weights.items():
        prefix = next((p for p in LEGACY_WEIGHT_PREFIXES if key.startswith(p)), None)
        renamed[LEGACY_WEIGHT_PREFIXES[prefix] + key.removeprefix(prefix) if prefix else key] = value
    return renamed


def migrate_folder(directory: str | os.PathLike) -> bool:
    """Rewrite a first-format model folder in place in the current form (config and weight
    names; the weights themselves are unchanged). False when it already is current."""
    from safetensors.numpy import load_file, save
    from stance.models.atomic import write_file

    directory = Path(directory)
    config, raw = read_config(directory)
    if not config.legacy:
        return False
    config.legacy = False
    # weights first: a folder caught between the two writes still loads (old names are renamed at load)
    write_file(directory / WEIGHTS_NAME, save(rename_legacy_weights(load_file(str(directory / WEIGHTS_NAME)))))
    write_file(directory / CONFIG_NAME, json.dumps(config.to_json(raw), indent=2) + "\n")
    return True
