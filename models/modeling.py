"""The stance classifier: a sentence and a target's query encoded together as one pair,
mean-pooled, with a 4-way stance head and a 2-way voice head."""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from scipy.special import softmax
from stance.models.atomic import atomic_directory
from stance.models.encoders import EncoderSource
from stance.models.predictions import (
    ArticleAnalysis,
    SentencePrediction,
    TargetStance,
    Voice,
    summarize_article,
)
from stance.models.sentences import context_windows, split_sentences
from stance.models.targets import Target, TargetSet, default_targets
from stance.models.validation import check_config
from torch import nn
from transformers import AutoConfig, AutoModel, AutoTokenizer, PreTrainedTokenizerBase

STANCE_LABELS = ("favor", "against", "neutral", "none")
VOICE_LABELS = ("author", "reported")
WEIGHTS_NAME = "model.safetensors"
DEFAULT_MODEL_DIR = Path(__file__).with_name("default")
TARGETS_NAME = "targets.json"
LORA_MODULES = ("query", "key", "value", "dense")
RUNTIMES = ("torch", "onnx", "auto")
# Pairs per forward pass when scoring. Length-sorted batches of 16 pad least: on 2 CPU cores
# they beat 64 by 5-25% (most with the few dozen sentences a server batch holds), with both
# runtimes; a GPU prefers larger batches (pass ``batch_size``).
SCORING_BATCH_SIZE = 16


@dataclass
class StanceSettings:
    """Everything about a stance model that is not a weight; saved in ``config.json``."""

    encoder: dict
    max_length: int = 128
    lora: dict | None = None  # {"r": .., "alpha": .., "dropout": ..} when trained as an adapter
    stance_temperature: float = 1.0
    voice_temperature: float = 1.0
    # The alias gate of ``analyze``: a pair whose target has no alias within ``gate_window``
    # (sentences before, after) is not scored and gets ``gate_prior``; see benchmarks/gate_recall.py.
    gate: bool = True
    gate_window: list[int] = field(default_factory=lambda: [3, 2])
    gate_prior: dict[str, float] = field(default_factory=lambda: {"none": 1.0})
    model_name: str = "stance-model"
    model_version: str = "0"

    @property
    def encoder_source(self) -> EncoderSource:
        return EncoderSource.from_dict(self.encoder)


class RuntimeOnlyEncoder(nn.Module):
    """Stands in for the encoder of a model that scores through ``runtime``: its config, no weights."""

    def __init__(self, config) -> None:
        super().__init__()
        self.config = config

    def forward(self, **_):
        raise RuntimeError("this model scores through its runtime (ONNX); load it with runtime='torch' to run the torch encoder")


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
        # An alternative inference engine (e.g. ONNX Runtime): batch of arrays -> (stance, voice) logits.
        self.runtime: Callable[[dict], tuple] | None = None
        # The weights file save_pretrained copies when the encoder in memory cannot be saved as
        # trained: LoRA merged into it, or a weightless stand-in for a runtime.
        self._weights_file: Path | None = None

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
    def from_pretrained(cls, directory: str | os.PathLike | None = None, *, runtime: str = "torch", trainable: bool = False) -> StanceModel:
        """Load a saved model; with no folder, the default model shipped in ``models/default``.

        ``runtime="onnx"`` scores through int8 ONNX Runtime (the ``fast`` extra), exported once
        into ``<directory>/onnx/``; the torch encoder weights are then never kept in memory.
        ``"auto"``: onnx when the extra is installed, else torch. ``trainable=True`` keeps LoRA
        adapters apart from the encoder (as training left them) so that training can go on.
        """
        if runtime not in RUNTIMES:
            raise ValueError(f"unknown runtime {runtime!r}; choose one of {', '.join(RUNTIMES)}")
        if trainable and runtime != "torch":
            raise ValueError("a model to train further must load with runtime='torch'")
        if runtime == "auto":
            from stance.models.onnx_runtime import onnx_installed

            runtime = "onnx" if onnx_installed() else "torch"
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
        check_config(raw, folder=directory)
        settings = StanceSettings(**raw["stance"])
        targets = TargetSet.load(directory / TARGETS_NAME)
        weights = load_file(str(directory / WEIGHTS_NAME))
        if trainable:
            return cls._load_trainable(directory, settings, targets, weights)
        model = None
        if runtime == "onnx":
            from stance.models.onnx_runtime import use_onnx

            skeleton = cls._load(directory, settings, targets, weights, encoder_weights=False)
            if use_onnx(skeleton, model_dir=directory, export=False) is not None:
                model = skeleton
        if model is None:
            model = cls._load(directory, settings, targets, weights, encoder_weights=True)
            if runtime == "onnx":
                use_onnx(model, model_dir=directory)  # exports once
                model.encoder = RuntimeOnlyEncoder(model.encoder.config)  # the runtime scores from now on
        if settings.lora or runtime == "onnx":  # the encoder in memory is merged or a stand-in
            model._weights_file = directory / WEIGHTS_NAME
        return model

    @classmethod
    def _load_trainable(cls, directory: Path, settings: StanceSettings, targets: TargetSet, weights: dict) -> StanceModel:
        if not settings.lora:
            return cls._load(directory, settings, targets, weights, encoder_weights=True)
        source = settings.encoder_source.resolve()
        with _quiet_loading():
            backbone = _with_lora(AutoModel.from_pretrained(source, **_pooling_kwargs(source)), settings.lora)
            tokenizer = AutoTokenizer.from_pretrained(source)
        model = cls(backbone, tokenizer, targets=targets, settings=settings)
        missing, unexpected = model.load_state_dict(weights, strict=False)
        missing = [name for name in missing if "lora_" in name or not name.startswith("encoder.")]
        if missing or unexpected:
            raise ValueError(f"{directory / WEIGHTS_NAME} does not match the model: missing {missing[:5]}, unexpected {unexpected[:5]}")
        return model.eval()

    @classmethod
    def _load(cls, directory: Path, settings: StanceSettings, targets: TargetSet, weights: dict, *, encoder_weights: bool) -> StanceModel:
        """The model from its folder's weights; LoRA adapters are merged into the encoder.
        Without ``encoder_weights`` the encoder is a weightless stand-in, for a model whose
        ``runtime`` does the scoring (and transformers' modeling code, 100 MB, is never imported)."""
        source = Path(settings.encoder_source.resolve()) if settings.lora else directory
        with _quiet_loading():
            tokenizer = AutoTokenizer.from_pretrained(source)
            kwargs = _pooling_kwargs(str(source))
            if not encoder_weights:
                backbone = RuntimeOnlyEncoder(AutoConfig.from_pretrained(source))
            elif settings.lora:
                backbone = AutoModel.from_pretrained(source, **kwargs)
            else:
                backbone = AutoModel.from_config(AutoConfig.from_pretrained(source), **kwargs)
        model = cls(backbone, tokenizer, targets=targets, settings=settings)
        adapters = {k: v for k, v in weights.items() if ".lora_" in k}
        own = {k: v for k, v in weights.items() if k not in adapters and (encoder_weights or not k.startswith("encoder."))}
        missing, unexpected = model.load_state_dict(own, strict=False)
        expected_missing = settings.lora or not encoder_weights
        missing = [name for name in missing if not (expected_missing and name.startswith("encoder."))]
        if missing or unexpected or (settings.lora and not adapters):
            raise ValueError(f"{directory / WEIGHTS_NAME} does not match the model: missing {missing[:5]}, unexpected {unexpected[:5]}")
        if settings.lora and encoder_weights:
            _merge_lora(model.encoder, adapters, settings.lora)
        return model.eval()

    def _weights_to_save(self) -> dict[str, torch.Tensor]:
        if self._weights_file is not None:
            return load_file(str(self._weights_file))
        state = self.state_dict()
        if self.settings.lora:
            state = {k: v for k, v in state.items() if not k.startswith("encoder.") or "lora_" in k}
        return {k: v.detach().contiguous().cpu() for k, v in state.items()}

    def save_pretrained(self, directory: str | os.PathLike, *, model_card: str | None = None, extra_files: dict[str, str] | None = None) -> Path:
        """Write the model to a hidden folder beside ``directory``, then swap it into place (see ``stance.models.atomic``)."""
        directory = Path(directory)
        with atomic_directory(directory) as staging:
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

    def score_pairs(self, texts: Sequence[str], queries: Sequence[str], *, batch_size: int = SCORING_BATCH_SIZE) -> tuple[np.ndarray, np.ndarray]:
        """Calibrated stance (n, 4) and voice (n, 2) probabilities for pairs, batched by length."""
        stance = np.zeros((len(texts), len(STANCE_LABELS)), dtype=np.float32)
        voice = np.zeros((len(texts), len(VOICE_LABELS)), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]) + len(queries[i]))
        was_training = self.training
        self.eval()
        with torch.inference_mode():
            for begin in range(0, len(order), batch_size):
                rows = order[begin : begin + batch_size]
                texts_batch, queries_batch = [texts[i] for i in rows], [queries[i] for i in rows]
                if self.runtime is not None:
                    stance_logits, voice_logits = self.runtime(self.encode_pairs(texts_batch, queries_batch, return_tensors="np"))
                else:
                    batch = self.encode_pairs(texts_batch, queries_batch).to(self.stance_head.weight.device)
                    stance_logits, voice_logits = (logits.float().cpu().numpy() for logits in self(**batch))
                stance[rows] = softmax(stance_logits / self.settings.stance_temperature, axis=-1)
                voice[rows] = softmax(voice_logits / self.settings.voice_temperature, axis=-1)
        self.train(was_training)
        return stance, voice

    def gate_contexts(self, sentences: Sequence[str]) -> list[str]:
        """What the alias gate reads for each sentence of one article (``settings.gate_window``)."""
        before, after = self.settings.gate_window
        return context_windows(sentences, before=before, after=after)

    def predict(
        self,
        inputs: str | Sequence[str],
        *,
        targets: Iterable[str] | None = None,
        gate: bool = False,
        batch_size: int = SCORING_BATCH_SIZE,
    ) -> SentencePrediction | list[SentencePrediction]:
        """Score each input as one sentence for the given targets (all by default).

        Inputs have no article around them, so every pair is scored; ``gate=True`` gates on
        the sentence alone, which is faster but drops about a tenth of the stanced pairs."""
        single = isinstance(inputs, str)
        texts = [inputs] if single else list(inputs)
        predictions = self._predict_sentences(texts, texts, targets=targets, gate=gate, batch_size=batch_size)
        return predictions[0] if single else predictions

    def analyze(self, text: str, *, targets: Iterable[str] | None = None, gate: bool | None = None, batch_size: int = SCORING_BATCH_SIZE) -> ArticleAnalysis:
        """Split an article into sentences, score them, and summarise the article per target."""
        return self.analyze_many([text], targets=targets, gate=gate, batch_size=batch_size)[0]

    def analyze_many(
        self, texts: Sequence[str], *, targets: Iterable[str] | None = None, gate: bool | None = None, batch_size: int = SCORING_BATCH_SIZE
    ) -> list[ArticleAnalysis]:
        """``analyze`` for many articles in one pass, so short articles share full batches.

        ``gate`` (default: ``settings.gate``) skips pairs whose target has no alias in the
        sentence's window of its article."""
        chosen = [t.name for t in self.targets.select(targets)]
        gate = self.settings.gate if gate is None else gate
        articles = [split_sentences(text) for text in texts]
        sentences = [s.text for article in articles for s in article]
        contexts = [context for article in articles for context in self.gate_contexts([s.text for s in article])] if gate else sentences
        predictions = self._predict_sentences(sentences, contexts, targets=chosen, gate=gate, batch_size=batch_size)
        analyses, begin = [], 0
        for article in articles:
            analyses.append(summarize_article(article, predictions[begin : begin + len(article)], chosen))
            begin += len(article)
        return analyses

    def _predict_sentences(
        self, texts: list[str], contexts: list[str], *, targets: Iterable[str] | None, gate: bool, batch_size: int
    ) -> list[SentencePrediction]:
        chosen = self.targets.select(targets)
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


def _merge_lora(encoder: nn.Module, adapters: dict[str, torch.Tensor], lora: dict) -> None:
    """Fold saved LoRA pairs into their Linear layers, W += (alpha / r) B A, as peft's
    ``merge_and_unload`` does; done here so that inference never imports peft (130 MB)."""
    scale = lora["alpha"] / lora["r"]
    with torch.no_grad():
        for key, down in adapters.items():
            if ".lora_A." not in key:
                continue
            up = adapters[key.replace(".lora_A.", ".lora_B.")]
            path = key.removeprefix("encoder.").removeprefix("base_model.model.").split(".lora_A.")[0]
            try:
                layer = encoder.get_submodule(path)
            except AttributeError:
                raise ValueError(f"adapter {key} names no layer of the encoder: not an adapter for this encoder") from None
            layer.weight += scale * (up.to(layer.weight.dtype) @ down.to(layer.weight.dtype))

