"""The stance classifier: a sentence and a target's query encoded together as one pair,
mean-pooled, with a 4-way stance head and a 2-way voice head."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn
from transformers import AutoConfig, AutoModel, AutoTokenizer, PreTrainedTokenizerBase

from models.encoders import EncoderSource
from models.predictions import (
    ArticleAnalysis,
    SentencePrediction,
    TargetStance,
    Voice,
    summarize_article,
)
from models.sentences import split_sentences
from models.targets import Target, TargetSet, default_targets

STANCE_LABELS = ("favor", "against", "neutral", "none")
VOICE_LABELS = ("author", "reported")
WEIGHTS_NAME = "model.safetensors"
DEFAULT_MODEL_DIR = Path(__file__).with_name("default")
TARGETS_NAME = "targets.json"
LORA_MODULES = ("query", "key", "value", "dense")


@dataclass
class StanceSettings:
    """Everything about a stance model that is not a weight; saved in ``config.json``."""

    encoder: dict
    max_length: int = 128
    lora: dict | None = None  # {"r": .., "alpha": .., "dropout": ..} when trained as an adapter
    stance_temperature: float = 1.0
    voice_temperature: float = 1.0
    gate: bool = True
    gate_prior: dict[str, float] = field(default_factory=lambda: {"none": 1.0})
    model_name: str = "stance-model"
    model_version: str = "0"

    @property
    def encoder_source(self) -> EncoderSource:
        return EncoderSource.from_dict(self.encoder)


class StanceModel(nn.Module):
    """Target-conditioned stance classifier with the scikit-learn-like ``predict`` API.

    >>> model = StanceModel.from_pretrained("models/default")
    >>> model.predict("Serbia will never join NATO.").stance["nato"].label
    'against'
    """

    def __init__(
        self,
        encoder: nn.Module,
        tokenizer: PreTrainedTokenizerBase,
        *,
        targets: TargetSet,
        settings: StanceSettings,
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self.tokenizer = tokenizer
        self.targets = targets
        self.settings = settings
        hidden = encoder.config.hidden_size
        self.dropout = nn.Dropout(0.1)
        self.stance_head = nn.Linear(hidden, len(STANCE_LABELS))
        self.voice_head = nn.Linear(hidden, len(VOICE_LABELS))
        # An alternative inference engine (e.g. ONNX Runtime): batch of tensors -> (stance, voice) logits.
        self.runtime: Callable[[dict], tuple] | None = None

    # ---- construction -------------------------------------------------------------

    @classmethod
    def from_encoder(
        cls,
        encoder: str | None = None,
        *,
        targets: TargetSet | None = None,
        lora_rank: int | None = 16,
        max_length: int = 128,
        seed: int = 42,
    ) -> StanceModel:
        """A new, untrained model over a pretrained encoder (package name, folder or hub id).

        With ``lora_rank`` the encoder is frozen and LoRA adapters are trained, so the saved
        model holds only the adapters and heads (a few MB) and reuses the packaged encoder.
        """
        torch.manual_seed(seed)
        source = EncoderSource.of(encoder)
        path = source.resolve()
        with _quiet_loading():
            backbone = AutoModel.from_pretrained(path, **_pooling_kwargs(path))
            tokenizer = AutoTokenizer.from_pretrained(path)
            lora = None
            if lora_rank:
                lora = {"r": lora_rank, "alpha": 2 * lora_rank, "dropout": 0.0}  # LoRA dropout costs a quarter of CPU training time
                backbone = _with_lora(backbone, lora)
        settings = StanceSettings(encoder=source.to_dict(), max_length=max_length, lora=lora)
        return cls(backbone, tokenizer, targets=targets or default_targets(), settings=settings)

    @classmethod
    def from_pretrained(cls, directory: str | os.PathLike | None = None) -> StanceModel:
        """Load a saved model; with no folder, the default model shipped in ``models/default``."""
        if directory is None:
            if not (DEFAULT_MODEL_DIR / "config.json").is_file():
                raise FileNotFoundError(
                    f"no default model at {DEFAULT_MODEL_DIR}: pass a model folder, or train one with "
                    "`stance train --data seeds/corpus.jsonl --output runs/my-model`"
                )
            directory = DEFAULT_MODEL_DIR
        directory = Path(directory)
        config_path = directory / "config.json"
        if not config_path.is_file():
            raise FileNotFoundError(f"{directory} is not a stance model folder (no config.json)")
        raw = json.loads(config_path.read_text(encoding="utf-8"))
        if "stance" not in raw:
            raise ValueError(f"{config_path} has no 'stance' section: not a stance model folder")
        settings = StanceSettings(**raw["stance"])
        targets = TargetSet.load(directory / TARGETS_NAME)
        weights = load_file(str(directory / WEIGHTS_NAME))
        with _quiet_loading():
            if settings.lora:
                base = settings.encoder_source.resolve()
                backbone = _with_lora(AutoModel.from_pretrained(base, **_pooling_kwargs(base)), settings.lora)
                tokenizer = AutoTokenizer.from_pretrained(base)
            else:
                encoder_config = AutoConfig.from_pretrained(directory)
                backbone = AutoModel.from_config(encoder_config, **_pooling_kwargs(str(directory)))
                tokenizer = AutoTokenizer.from_pretrained(directory)
        model = cls(backbone, tokenizer, targets=targets, settings=settings)
        missing, unexpected = model.load_state_dict(weights, strict=False)
        missing = [name for name in missing if not (settings.lora and "lora_" not in name and name.startswith("encoder."))]
        if missing or unexpected:
            raise ValueError(f"{directory / WEIGHTS_NAME} does not match the model: missing {missing[:5]}, unexpected {unexpected[:5]}")
        model.merge_adapters()
        return model.eval()

    def merge_adapters(self) -> None:
        """Fold LoRA weights into the encoder for inference; training state stays saveable."""
        if hasattr(self.encoder, "merge_and_unload"):
            self._adapter_state = self._weights_to_save()
            self.encoder = self.encoder.merge_and_unload()

    def _weights_to_save(self) -> dict[str, torch.Tensor]:
        if getattr(self, "_adapter_state", None) is not None:
            return self._adapter_state
        state = self.state_dict()
        if self.settings.lora:
            state = {k: v for k, v in state.items() if not k.startswith("encoder.") or "lora_" in k}
        return {k: v.detach().contiguous().cpu() for k, v in state.items()}

    def save_pretrained(self, directory: str | os.PathLike, *, model_card: str | None = None, extra_files: dict[str, str] | None = None) -> Path:
        """Write the model to a temporary folder beside ``directory``, then rename it into place."""
        directory = Path(directory)
        directory.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
        try:
            save_file(self._weights_to_save(), str(staging / WEIGHTS_NAME))
            config = self._encoder_config().to_dict()
            config.update(
                id2label=dict(enumerate(STANCE_LABELS)),
                label2id={label: i for i, label in enumerate(STANCE_LABELS)},
                voice_labels=list(VOICE_LABELS),
                stance=asdict(self.settings),
            )
            (staging / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
            self.targets.save(staging / TARGETS_NAME)
            if not self.settings.lora:
                self.tokenizer.save_pretrained(staging)
            if model_card:
                (staging / "README.md").write_text(model_card, encoding="utf-8")
            for name, text in (extra_files or {}).items():
                (staging / name).write_text(text, encoding="utf-8")
            _replace_dir(staging, directory)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return directory

    def _encoder_config(self):
        encoder = self.encoder
        base = encoder.get_base_model() if hasattr(encoder, "get_base_model") else encoder
        return base.config

    # ---- forward ------------------------------------------------------------------

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor | None = None):
        kwargs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None:
            kwargs["token_type_ids"] = token_type_ids
        hidden = self.encoder(**kwargs).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = self.dropout((hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0))
        return self.stance_head(pooled), self.voice_head(pooled)

    def encode_pairs(self, texts: Sequence[str], queries: Sequence[str], *, padding: bool | str = "longest", return_tensors: str | None = "pt"):
        """Tokenize (sentence, target query) pairs; sentences are truncated, never the query."""
        return self.tokenizer(
            list(texts),
            list(queries),
            padding=padding,
            truncation="only_first",
            max_length=self.settings.max_length,
            return_tensors=return_tensors,
        )

    # ---- inference ----------------------------------------------------------------

    def score_pairs(self, texts: Sequence[str], queries: Sequence[str], *, batch_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
        """Calibrated stance (n, 4) and voice (n, 2) probabilities for pairs, batched by length."""
        stance = np.zeros((len(texts), len(STANCE_LABELS)), dtype=np.float32)
        voice = np.zeros((len(texts), len(VOICE_LABELS)), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]) + len(queries[i]))
        was_training = self.training
        self.eval()
        with torch.inference_mode():
            for begin in range(0, len(order), batch_size):
                rows = order[begin : begin + batch_size]
                batch = self.encode_pairs([texts[i] for i in rows], [queries[i] for i in rows])
                if self.runtime is not None:
                    stance_logits, voice_logits = self.runtime(batch)
                else:
                    stance_logits, voice_logits = self(**batch.to(self.stance_head.weight.device))
                stance[rows] = torch.softmax(torch.as_tensor(stance_logits).float().cpu() / self.settings.stance_temperature, -1).numpy()
                voice[rows] = torch.softmax(torch.as_tensor(voice_logits).float().cpu() / self.settings.voice_temperature, -1).numpy()
        self.train(was_training)
        return stance, voice

    def predict(
        self,
        inputs: str | Sequence[str],
        *,
        targets: Iterable[str] | None = None,
        gate: bool | None = None,
        batch_size: int = 64,
    ) -> SentencePrediction | list[SentencePrediction]:
        """Score each input as one sentence for the given targets (all by default)."""
        single = isinstance(inputs, str)
        texts = [inputs] if single else list(inputs)
        predictions = self._predict_sentences(texts, texts, targets=targets, gate=gate, batch_size=batch_size)
        return predictions[0] if single else predictions

    def analyze(self, text: str, *, targets: Iterable[str] | None = None, gate: bool | None = None, batch_size: int = 64) -> ArticleAnalysis:
        """Split an article into sentences, score them, and summarise the article per target."""
        sentences = split_sentences(text)
        contexts = [" ".join(s.text for s in sentences[max(0, i - 1) : i + 1]) for i in range(len(sentences))]
        chosen = self.targets.select(targets)
        predictions = self._predict_sentences([s.text for s in sentences], contexts, targets=[t.name for t in chosen], gate=gate, batch_size=batch_size)
        return summarize_article(sentences, predictions, [t.name for t in chosen])

    def _predict_sentences(
        self, texts: list[str], contexts: list[str], *, targets: Iterable[str] | None, gate: bool | None, batch_size: int
    ) -> list[SentencePrediction]:
        chosen = self.targets.select(targets)
        gate = self.settings.gate if gate is None else gate
        pairs = [
            (i, target)
            for i in range(len(texts))
            for target in chosen
            if not gate or target.mentioned_in(contexts[i])
        ]
        stance, voice = self.score_pairs([texts[i] for i, _ in pairs], [t.query for _, t in pairs], batch_size=batch_size)
        return _assemble(texts, chosen, pairs, stance, voice, self.settings.gate_prior)


def _assemble(
    texts: list[str],
    targets: list[Target],
    pairs: list[tuple[int, Target]],
    stance: np.ndarray,
    voice: np.ndarray,
    gate_prior: dict[str, float],
) -> list[SentencePrediction]:
    """Per sentence: scored pairs from the model, gated pairs from the gate's prior; the
    sentence's voice is the mean over its scored pairs (``author`` when none was scored)."""
    prior = np.array([gate_prior.get(label, 0.0) for label in STANCE_LABELS], dtype=np.float32)
    prior = prior / prior.sum()
    per_sentence: list[dict[str, np.ndarray]] = [{} for _ in texts]
    voices: list[list[np.ndarray]] = [[] for _ in texts]
    for row, (i, target) in enumerate(pairs):
        per_sentence[i][target.name] = stance[row]
        voices[i].append(voice[row])
    results = []
    for i, text in enumerate(texts):
        stances = {}
        for target in targets:
            probs = per_sentence[i].get(target.name)
            scored = probs is not None
            probs = prior if probs is None else probs
            stances[target.name] = TargetStance(
                label=STANCE_LABELS[int(probs.argmax())],
                scores={label: float(p) for label, p in zip(STANCE_LABELS, probs, strict=True)},
                scored=scored,
            )
        mean_voice = np.mean(voices[i], axis=0) if voices[i] else np.array([1.0, 0.0])
        results.append(SentencePrediction(text=text, stance=stances, voice=Voice(VOICE_LABELS[int(mean_voice.argmax())], float(mean_voice.max()))))
    return results


@contextmanager
def _quiet_loading() -> Iterator[None]:
    """Loading a headless encoder is expected to skip its pooler: keep that report off the console."""
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            yield
    finally:
        hf_logging.set_verbosity(verbosity)
        hf_logging.enable_progress_bar()


def _is_bert(path: str) -> bool:
    try:
        return AutoConfig.from_pretrained(path).model_type == "bert"
    except (OSError, ValueError):
        return False


def _pooling_kwargs(path: str) -> dict:
    return {"add_pooling_layer": False} if _is_bert(path) else {}


def _with_lora(backbone: nn.Module, lora: dict) -> nn.Module:
    from peft import LoraConfig, get_peft_model

    present = {name.rsplit(".", 1)[-1] for name, _ in backbone.named_modules()}
    config = LoraConfig(
        r=lora["r"],
        lora_alpha=lora["alpha"],
        lora_dropout=lora["dropout"],
        target_modules=[m for m in LORA_MODULES if m in present] or "all-linear",
    )
    return get_peft_model(backbone, config)


def _replace_dir(staging: Path, directory: Path) -> None:
    """Swap ``staging`` into ``directory``; an existing folder is moved aside first, never merged."""
    old = None
    if directory.exists():
        old = directory.with_name(f".{directory.name}.old-{os.getpid()}")
        os.replace(directory, old)
    os.replace(staging, directory)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
