"""Classification heads as data: a name, its labels, softmax (one label) or sigmoid (any
number of labels), and the calibration fitted on dev: a temperature, and for sigmoid heads a
threshold per label. Turning logits into probabilities and decisions needs numpy only, so
the ONNX runtime and the torch model share it."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.special import expit, softmax

ACTIVATIONS = ("softmax", "sigmoid")
DEFAULT_THRESHOLD = 0.5


@dataclass(slots=True)  # a misspelt setting fails instead of being ignored
class HeadSpec:
    name: str
    labels: tuple[str, ...]
    activation: str = "softmax"
    temperature: float = 1.0
    thresholds: dict[str, float] = field(default_factory=dict)  # sigmoid heads; a label left out uses 0.5

    def __post_init__(self) -> None:
        self.labels = tuple(self.labels)
        if not re.fullmatch(r"[a-z][a-z0-9_]*", self.name):
            raise ValueError(f"head name {self.name!r} must be lower-case letters, digits or '_'")
        if not self.labels or len(set(self.labels)) != len(self.labels):
            raise ValueError(f"head {self.name!r} needs distinct labels, got {list(self.labels)}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"head {self.name!r}: activation must be one of {', '.join(ACTIVATIONS)}, not {self.activation!r}")
        if self.activation == "softmax" and len(self.labels) < 2:
            raise ValueError(f"softmax head {self.name!r} needs at least two labels")
        if not self.temperature > 0:
            raise ValueError(f"head {self.name!r}: temperature must be positive, not {self.temperature}")
        unknown = set(self.thresholds) - set(self.labels)
        if unknown:
            raise ValueError(f"head {self.name!r}: thresholds for unknown labels {sorted(unknown)}")
        if self.thresholds and self.activation != "sigmoid":
            raise ValueError(f"head {self.name!r}: per-label thresholds need a sigmoid head")

    @property
    def multi_label(self) -> bool:
        return self.activation == "sigmoid"

    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        """Calibrated probabilities, (n, labels): rows sum to one for softmax heads."""
        scaled = np.asarray(logits, dtype=np.float32) / self.temperature
        return expit(scaled) if self.multi_label else softmax(scaled, axis=-1)

    def threshold_vector(self) -> np.ndarray:
        return np.array([self.thresholds.get(label, DEFAULT_THRESHOLD) for label in self.labels], dtype=np.float32)

    def decide(self, probabilities: np.ndarray) -> list[list[str]] | list[str]:
        """Per row: the top label (softmax), or every label at or above its threshold (sigmoid)."""
        if self.multi_label:
            passed = probabilities >= self.threshold_vector()
            return [[label for label, on in zip(self.labels, row, strict=True) if on] for row in passed]
        return [self.labels[i] for i in probabilities.argmax(-1)]

    def to_dict(self) -> dict:
        data = {"name": self.name, "labels": list(self.labels), "activation": self.activation, "temperature": self.temperature}
        if self.multi_label:
            data["thresholds"] = dict(self.thresholds)
        return data

    @classmethod
    def from_dict(cls, data: Mapping) -> HeadSpec:
        try:
            return cls(
                name=data["name"],
                labels=tuple(data["labels"]),
                activation=data.get("activation", "softmax"),
                temperature=float(data.get("temperature", 1.0)),
                thresholds={str(k): float(v) for k, v in (data.get("thresholds") or {}).items()},
            )
        except (KeyError, TypeError) as error:
            raise ValueError(f"malformed head definition {dict(data)!r}: {error}") from error


def head_table(specs: Sequence[HeadSpec]) -> dict[str, HeadSpec]:
    table: dict[str, HeadSpec] = {}
    for spec in specs:
        if spec.name in table:
            raise ValueError(f"head {spec.name!r} is defined twice")
        table[spec.name] = spec
    if not table:
        raise ValueError("a model needs at least one head")
    return table
