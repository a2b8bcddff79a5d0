"""A task's model: one backbone and named heads described by data, whose outputs are dicts of
named arrays whether torch or a runtime (ONNX) does the forward pass. Saving and loading the
folder (config, weights, tokenizer) is here once; a task subclass adds its own settings and
files (the stance model its targets) and what it does with the probabilities."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from stance.models.atomic import atomic_directory
from stance.models.backbone import Backbone, BackboneSettings, RuntimeOnlyEncoder
from stance.models.config import WEIGHTS_NAME, ModelConfig, read_config, rename_legacy_weights
from stance.models.heads import HeadSpec, head_table
from stance.models.runtimes import resolve_runtime
from torch import nn

BACKBONE_PREFIX = "backbone."
FFN_INPUT_MAX = "ffn_input_max"
# Inputs per forward pass when scoring. Length-sorted batches of 16 pad least: on 2 CPU cores
# they beat 64 by 5-25% (most with the few dozen sentences a server batch holds), with both
# runtimes; a GPU prefers larger batches (pass ``batch_size``).
SCORING_BATCH_SIZE = 16
# The share of max_length that consecutive windows of a long text repeat (``window_logits``), so
# that a clause cut by one window's edge is read whole in the next.
WINDOW_OVERLAP = 0.25

# A runtime: a batch of tokenizer arrays in, logits per head name out.
Runtime = Callable[[Mapping], Mapping[str, np.ndarray]]


class TaskModel(nn.Module):
    """Backbone + heads. Subclasses name the ``tasks`` they load, set ``task`` and implement the hooks."""

    tasks: ClassVar[tuple[str, ...]]
    task: str
    settings: Any  # the task's settings; at least ``model_name`` and ``model_version``

    def __init__(self, backbone: Backbone, heads: Sequence[HeadSpec]) -> None:
        super().__init__()
        self.backbone = backbone
        self.head_specs: dict[str, HeadSpec] = head_table(heads)
        self.dropout = nn.Dropout(0.1)
        self.heads = nn.ModuleDict({name: nn.Linear(backbone.hidden_size, len(spec.labels)) for name, spec in self.head_specs.items()})
        # An alternative inference engine (ONNX Runtime) that replaces the torch forward pass.
        self.runtime: Runtime | None = None
        # The weights file save_pretrained copies when the encoder in memory cannot be saved as
        # trained: LoRA merged into it, or a weightless stand-in for a runtime.
        self._weights_file: Path | None = None
        # The largest |input| of each layer's FFN output projection on training sentences, saved with
        # the weights when measured: the all-int8 export smooths by it (``stance.models.smoothing``).
        self.register_buffer(FFN_INPUT_MAX, None)

    @property
    def tokenizer(self):
        return self.backbone.tokenizer

    # ---- the task's hooks ---------------------------------------------------------

    def task_options(self) -> dict:
        """The task's settings as saved in config.json ``options``."""
        raise NotImplementedError

    @classmethod
    def _assemble(cls, backbone: Backbone, config: ModelConfig, directory: Path) -> TaskModel:
        """The model from a loaded backbone, the folder's config and its task files."""
        raise NotImplementedError

    def _save_task_files(self, directory: Path) -> None:
        """Write the task's own files (e.g. targets.json) into a model folder being saved."""

    @property
    def model_name(self) -> str:
        return self.settings.model_name

    @property
    def model_version(self) -> str:
        return self.settings.model_version

    # ---- loading ------------------------------------------------------------------

    @classmethod
    def load_folder(cls, directory: str | os.PathLike, *, runtime: str = "torch", trainable: bool = False, export: bool = True):
        """Load a saved model of this class's task (see ``StanceModel.from_pretrained``)."""
        runtime = resolve_runtime(runtime)
        if trainable and runtime != "torch":
            raise ValueError("a model to train further must load with runtime='torch'")
        directory = Path(directory)
        config, _ = read_config(directory)
        if config.task not in cls.tasks:
            raise ValueError(f"{directory} holds a {config.task!r} model, not a {' or '.join(map(repr, cls.tasks))} model")
        weights = rename_legacy_weights(load_file(str(directory / WEIGHTS_NAME)))
        settings = BackboneSettings.from_dict(config.backbone)
        if trainable:
            return cls._load(directory, config, settings, weights, mode="trainable")
        model = None
        if runtime == "onnx":
            from stance.models.onnx_runtime import use_onnx

            skeleton = cls._load(directory, config, settings, weights, mode="runtime")
            if use_onnx(skeleton, model_dir=directory, export=False) is not None:
                model = skeleton
        if model is None and runtime == "onnx" and not export:
            raise FileNotFoundError(
                f"{directory} has no ONNX export of its current weights: export it first, outside the server "
                f"(`stance predict --model {directory} --runtime onnx --input ROWS.jsonl --output OUT.jsonl`), or load it with runtime 'torch'"
            )
        if model is None:
            model = cls._load(directory, config, settings, weights, mode="merged")
            if runtime == "onnx":
                use_onnx(model, model_dir=directory)  # exports once
                model.backbone.encoder = RuntimeOnlyEncoder(model.backbone.encoder.config)  # the runtime scores from now on
        if settings.encoder_from_source or runtime == "onnx":  # the encoder in memory is merged, from its source or a stand-in
            model._weights_file = directory / WEIGHTS_NAME
        return model

    @classmethod
    def _load(cls, directory: Path, config: ModelConfig, settings: BackboneSettings, weights: dict, *, mode: str) -> TaskModel:
        encoder_weights = {k.removeprefix(BACKBONE_PREFIX): v for k, v in weights.items() if k.startswith(BACKBONE_PREFIX)}
        try:
            backbone = Backbone.load(directory, settings, encoder_weights, mode=mode)
        except ValueError as error:
            raise ValueError(f"{directory / WEIGHTS_NAME}: {error}") from error
        model = cls._assemble(backbone, config, directory)
        own = {k: v for k, v in weights.items() if not k.startswith(BACKBONE_PREFIX)}
        model.ffn_input_max = own.get(FFN_INPUT_MAX)  # a buffer only when saved: expected by load_state_dict only then
        missing, unexpected = model.load_state_dict(own, strict=False)
        missing = [name for name in missing if not name.startswith(BACKBONE_PREFIX)]
        if missing or unexpected:
            raise ValueError(f"{directory / WEIGHTS_NAME} does not match the model: missing {missing[:5]}, unexpected {unexpected[:5]}")
        return model.eval()

    # ---- saving -------------------------------------------------------------------

    def saves(self, key: str) -> bool:
        """Whether a weight is written by ``save_pretrained`` (and trained): with LoRA, not the encoder's own."""
        return not key.startswith(BACKBONE_PREFIX) or self.backbone.saves(key.removeprefix(BACKBONE_PREFIX))

    def _weights_to_save(self) -> dict[str, torch.Tensor]:
        if self._weights_file is None:
            return {k: v.detach().contiguous().cpu() for k, v in self.state_dict().items() if self.saves(k)}
        # the encoder's weights as saved; the model's own (heads, measured ranges) as they are now
        saved = rename_legacy_weights(load_file(str(self._weights_file)))
        own = {k: v.detach().contiguous().cpu() for k, v in self.state_dict().items() if not k.startswith(BACKBONE_PREFIX)}
        return {k: v for k, v in saved.items() if k.startswith(BACKBONE_PREFIX)} | own

    def config(self) -> ModelConfig:
        return ModelConfig(
            task=self.task,
            backbone=self.backbone.settings.to_dict(),
            heads=list(self.head_specs.values()),
            options=self.task_options(),
            model_name=self.model_name,
            model_version=self.model_version,
        )

    def save_pretrained(
        self, directory: str | os.PathLike, *, model_card: str | None = None, extra_files: dict[str, str] | None = None
    ) -> Path:
        """Write the model to a hidden folder beside ``directory``, then swap it into place (see ``stance.models.atomic``)."""
        directory = Path(directory)
        with atomic_directory(directory) as staging:
            save_file(self._weights_to_save(), str(staging / WEIGHTS_NAME))
            config = self.config().to_json(self.backbone.encoder_config().to_dict())
            (staging / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
            self._save_task_files(staging)
            self.backbone.save_tokenizer(staging)
            if model_card:
                (staging / "README.md").write_text(model_card, encoding="utf-8")
            for name, text in (extra_files or {}).items():
                (staging / name).write_text(text, encoding="utf-8")
        return directory

    # ---- forward ------------------------------------------------------------------

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        pooled = self.dropout(self.backbone(input_ids, attention_mask, token_type_ids))
        return {name: head(pooled) for name, head in self.heads.items()}

    def example_inputs(self):
        """A small tokenised batch, for tracing the forward pass (ONNX export)."""
        return self.backbone.tokenize(["Serbia will never join NATO.", "Moscow said so."], ["NATO, the alliance", "Russia"])

    def score_windows(
        self, texts: Sequence[str], pairs: Sequence[str] | None = None, *, batch_size: int = SCORING_BATCH_SIZE
    ) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Calibrated probabilities per head for every window read (see ``window_logits``), and the input each belongs to."""
        logits, owners = self.window_logits(texts, pairs, batch_size=batch_size)
        return {name: self.head_specs[name].probabilities(values) for name, values in logits.items()}, owners

    def batched_logits(
        self, texts: Sequence[str], pairs: Sequence[str] | None = None, *, batch_size: int = SCORING_BATCH_SIZE
    ) -> dict[str, np.ndarray]:
        """Raw logits per head, (n, labels), in batches of similar length; texts are cut at ``max_length`` tokens."""
        result = {name: np.zeros((len(texts), len(spec.labels)), dtype=np.float32) for name, spec in self.head_specs.items()}
        for rows, batch_texts, batch_pairs in self._length_batches(texts, pairs, batch_size):
            for name, logits in self.logits(batch_texts, batch_pairs).items():
                result[name][rows] = logits
        return result

    def window_logits(
        self, texts: Sequence[str], pairs: Sequence[str] | None = None, *, batch_size: int = SCORING_BATCH_SIZE
    ) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Raw logits per head for every window of ``max_length`` tokens, and the input each window belongs to.

        A text that fits is one window, encoded exactly as ``logits`` encodes it; a longer one is
        read in windows that overlap by ``WINDOW_OVERLAP`` of ``max_length``, each with the whole pair."""
        overlap = int(self.backbone.settings.max_length * WINDOW_OVERLAP)
        blocks: dict[str, list[np.ndarray]] = {name: [] for name in self.head_specs}
        owners: list[np.ndarray] = []
        for rows, batch_texts, batch_pairs in self._length_batches(texts, pairs, batch_size):
            batch = self.backbone.tokenize(
                batch_texts, batch_pairs, return_tensors="np" if self.runtime is not None else "pt", overlap=overlap
            )
            owners.append(np.asarray(rows)[np.asarray(batch.pop("overflow_to_sample_mapping"))])
            for name, logits in self._forward_encoded(batch).items():
                blocks[name].append(logits)
        empty = {name: np.zeros((0, len(spec.labels)), dtype=np.float32) for name, spec in self.head_specs.items()}
        if not owners:
            return empty, np.zeros(0, dtype=np.int64)
        return {name: np.concatenate(values) for name, values in blocks.items()}, np.concatenate(owners)

    def _length_batches(
        self, texts: Sequence[str], pairs: Sequence[str] | None, batch_size: int
    ) -> Iterator[tuple[list[int], list[str], list[str] | None]]:
        """Batches of inputs of similar length (row numbers, texts, pairs), scored in eval mode without gradients."""
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]) + (len(pairs[i]) if pairs is not None else 0))
        was_training = self.training
        self.eval()
        try:
            with torch.inference_mode():
                for begin in range(0, len(order), batch_size):
                    rows = order[begin : begin + batch_size]
                    yield rows, [texts[i] for i in rows], None if pairs is None else [pairs[i] for i in rows]
        finally:
            self.train(was_training)

    def logits(self, texts: Sequence[str], pairs: Sequence[str] | None = None) -> dict[str, np.ndarray]:
        """Raw logits per head for one batch, through the runtime when there is one."""
        return self._forward_encoded(self.backbone.tokenize(texts, pairs, return_tensors="np" if self.runtime is not None else "pt"))

    def _forward_encoded(self, batch: Mapping) -> dict[str, np.ndarray]:
        if self.runtime is not None:
            return dict(self.runtime(batch))
        device = next(iter(self.heads.values())).weight.device
        inputs = {name: batch[name].to(device) for name in ("input_ids", "attention_mask", "token_type_ids") if name in batch}
        return {name: logits.float().cpu().numpy() for name, logits in self(**inputs).items()}
