"""Training settings, saved beside every trained model as ``training_config.json``."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from stance.models.tasks import READERS


@dataclass
class TrainingArguments:
    encoder: str | None = None  # package name, HF folder or hub id; None: the packaged MiniLM
    epochs: int = 4
    batch_size: int = 32
    learning_rate: float | None = None  # None: 1e-3 with LoRA, 4e-5 for full fine-tuning
    lora_rank: int = 16  # 0 fine-tunes the whole encoder (and saves it whole)
    max_length: int = 128
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    voice_weight: float = 0.5
    class_weighting: str = "sqrt"  # "sqrt": inverse square-root label frequency; "none"
    dev_fraction: float = 0.2
    seed: int = 42
    device: str = "auto"
    model_name: str = "stance-model"
    model_version: str = "0"
    init_model: str | None = None  # a saved stance model to go on training (its encoder, adapter, heads, targets)
    gate_sample: float = 1.0  # share of training pairs that the alias gate skips in analyze still trained on
    reader: str = "pair"  # "pair": a sentence with each target's query; "sentence": once for all targets
    teacher: str | list[str] | None = None  # stance model(s) whose (mean) probabilities a sentence-reader student also learns
    distill_weight: float = 1.0  # weight of the teacher's soft targets beside the gold loss
    int8_ffn_output: bool | None = None  # the saved model's faster int8 export (models/tasks.py); None: as before
    # keep the model after the last epoch, the dev rows only calibrate: a final run on every labelled article
    # whose epochs were chosen on a dev split, with a held-out set too small or far off to choose them again
    last_epoch: bool = False

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError("epochs and batch_size must be at least 1")
        if self.lora_rank < 0:
            raise ValueError("lora_rank must be 0 (full fine-tuning) or positive")
        if not 0 < self.gate_sample <= 1:
            raise ValueError("gate_sample must be in (0, 1]")
        if self.reader not in READERS:
            raise ValueError(f"reader must be one of {', '.join(READERS)}, not {self.reader!r}")
        if self.teacher and self.reader != "sentence":
            raise ValueError("a teacher trains a sentence-reader student: add --reader sentence")
        if self.distill_weight < 0:
            raise ValueError("distill_weight must be 0 or more")
        if self.class_weighting not in ("sqrt", "none"):
            raise ValueError("class_weighting must be 'sqrt' or 'none'")

    @property
    def effective_learning_rate(self) -> float:
        if self.learning_rate is not None:
            return self.learning_rate
        return 1e-3 if self.lora_rank else 4e-5

    def to_dict(self) -> dict:
        data = asdict(self)
        data["effective_learning_rate"] = self.effective_learning_rate
        return data
